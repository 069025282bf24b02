"""Every lifecycle event names its job's owner (null for a system job), from the job definition:
through retries, orphan releases, hand-backs, stale outcomes and admin reruns; the live feed
routes by it without asking PostgreSQL, and falls back to asking for events that do not say."""

from __future__ import annotations

import asyncio
from typing import Any

from arq.jobs import deserialize_job

from tests.support import jobs
from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.engine import (
    FINAL,
    RunningWorker,
    job_events,
    live_events,
    marks,
    stream_events,
)
from tests.support.waiting import eventually
from tests.support.ws import hub_of, joined, until
from voicepipe import keys
from voicepipe.engine import orphans
from voicepipe.engine.broker import dumps, loads
from voicepipe.engine.events import make_event
from voicepipe.engine.registry import broker_for, get_task
from voicepipe.resources import Resources
from voicepipe.services import control
from voicepipe.services.accounts import create_user
from voicepipe.web.ws.owners import Owners

GHOST = "ghost-host:4242:dead00"  # a worker that claimed a job and vanished before any heartbeat
Events = asyncio.Queue[dict[str, Any]]


async def _owner(resources: Resources, email: str = "owner@example.org") -> int:
    return (await create_user(resources.db, email)).id


async def _run_until_final(
    resources: Resources, received: Events, job_id: str
) -> list[dict[str, Any]]:
    """Run a worker until `job_id` has ended; its live events up to the final one."""
    worker = RunningWorker(resources, ["default"])
    try:
        return await _until_final(received, job_id)
    finally:
        await worker.close()


async def _until_final(
    received: Events, job_id: str, timeout_s: float = 15
) -> list[dict[str, Any]]:
    """The live events of `job_id` up to and including its final one."""
    seen = []
    async with asyncio.timeout(timeout_s):
        while True:
            event = await received.get()
            if event["job_id"] == job_id:
                seen.append(event)
                if event["event"] in FINAL:
                    return seen


def _kinds_and_owners(seen: list[dict[str, Any]]) -> list[tuple[str, int, object]]:
    return [(e["event"], e["try"], e.get("owner_id", "absent")) for e in seen]


async def test_every_event_of_an_owned_job_names_its_owner_through_a_retry(
    resources: Resources,
) -> None:
    owner_id = await _owner(resources)
    async with live_events(resources) as received:
        worker = RunningWorker(resources, ["default"])
        try:
            retried = await jobs.retry_self.enqueue(resources, wait_s=0.05, owner_id=owner_id)
            seen = await _until_final(received, retried.job_id)
            counted = await jobs.progress.enqueue(resources, steps=2, owner_id=owner_id)
            progressed = await _until_final(received, counted.job_id)
        finally:
            await worker.close()
    assert _kinds_and_owners(seen) == [
        ("queued", 1, owner_id), ("started", 1, owner_id), ("retry", 1, owner_id),
        ("started", 2, owner_id), ("success", 2, owner_id),
    ]  # fmt: skip
    assert {e["event"] for e in progressed} == {"queued", "started", "progress", "success"}
    assert {e["owner_id"] for e in progressed} == {owner_id}


async def test_the_definition_holds_the_owner_and_arq_still_reads_it(resources: Resources) -> None:
    owner_id = await _owner(resources)
    handle = await jobs.echo.enqueue(resources, value="x", owner_id=owner_id)
    raw = await resources.redis.get(keys.job(handle.job_id))
    assert loads(raw)["u"] == owner_id
    job = deserialize_job(raw, deserializer=loads)  # arq's own reader ignores the extra field
    assert (job.function, job.kwargs, job.job_try) == ("t_echo", {"value": "x"}, 1)
    system = await jobs.echo.enqueue(resources)
    assert loads(await resources.redis.get(keys.job(system.job_id)))["u"] is None


async def test_the_events_of_a_system_job_carry_a_null_owner(resources: Resources) -> None:
    async with live_events(resources) as received:
        worker = RunningWorker(resources, ["default"])
        try:
            done = await jobs.echo.enqueue(resources, value="system")
            succeeded = await _until_final(received, done.job_id)
            failed = await jobs.broken.enqueue(resources)
            failures = await _until_final(received, failed.job_id)
        finally:
            await worker.close()
    assert _kinds_and_owners(succeeded) == [
        ("queued", 1, None), ("started", 1, None), ("success", 1, None)
    ]  # fmt: skip
    assert _kinds_and_owners(failures)[-1] == ("failure", 1, None)


async def test_an_orphan_release_keeps_the_owner_on_its_events_and_definition(
    resources: Resources,
) -> None:
    owner_id = await _owner(resources)
    broker = broker_for(resources)
    async with live_events(resources) as received:
        handle = await jobs.echo.enqueue(resources, value="lost", owner_id=owner_id)
        await broker.claim("default", GHOST, 1, live=True)
        released = await eventually(
            lambda: orphans.release_orphans(broker, "reaper"), what="the job to be released"
        )
        assert [r.try_number for r in released] == [2]
        assert loads(await resources.redis.get(keys.job(handle.job_id)))["u"] == owner_id
        seen = await _run_until_final(resources, received, handle.job_id)
    assert _kinds_and_owners(seen) == [
        ("queued", 1, owner_id), ("started", 1, owner_id), ("retry", 1, owner_id),
        ("started", 2, owner_id), ("success", 2, owner_id),
    ]  # fmt: skip
    assert seen[2]["orphaned"] is True


async def test_a_job_given_up_after_too_many_losses_fails_with_its_owner(
    resources: Resources,
) -> None:
    owner_id = await _owner(resources)
    broker = broker_for(resources)
    handle = await jobs.echo.enqueue(resources, value="poison", owner_id=owner_id)
    job = loads(await resources.redis.get(keys.job(handle.job_id)))
    await resources.redis.set(keys.job(handle.job_id), dumps({**job, "o": orphans.MAX_LOSSES}))
    async with live_events(resources) as received:
        await broker.claim("default", GHOST, 1, live=True)
        released = await eventually(
            lambda: orphans.release_orphans(broker, "reaper"), what="the job to be given up"
        )
        assert [r.try_number for r in released] == [0]
        seen = await _until_final(received, handle.job_id)
    assert _kinds_and_owners(seen) == [("started", 1, owner_id), ("failure", 1, owner_id)]


async def test_a_handed_back_job_keeps_its_owner(resources: Resources) -> None:
    owner_id = await _owner(resources)
    async with live_events(resources) as received:
        first = RunningWorker(resources, ["default"])
        handle = await jobs.slow.enqueue(resources, seconds=60, owner_id=owner_id)
        await eventually(
            lambda: resources.redis.exists(f"test:started:{handle.job_id}"), what="job start"
        )
        await first.close()  # grace is 2 s in tests; the job needs 60: it is handed back
        assert loads(await resources.redis.get(keys.job(handle.job_id)))["u"] == owner_id
        seen = await _run_until_final(resources, received, handle.job_id)
    assert _kinds_and_owners(seen) == [
        ("queued", 1, owner_id), ("started", 1, owner_id), ("queued", 2, owner_id),
        ("started", 2, owner_id), ("success", 2, owner_id),
    ]  # fmt: skip
    assert seen[2]["handed_back"] is True


async def test_a_stale_outcome_names_the_owner(resources: Resources) -> None:
    owner_id = await _owner(resources)
    broker = broker_for(resources)
    handle = await jobs.echo.enqueue(resources, owner_id=owner_id)
    (old,), _ = await broker.claim("default", "stalled:1:aaaaaa", 1, live=False)
    assert old.owner_id == owner_id
    back = make_event("queued", job_id=old.job_id, task=old.task, queue=old.queue, try_number=2,
                      priority=old.priority, owner_id=old.owner_id)  # fmt: skip
    assert await broker.hand_back(old, back, live=False)
    (new,), _ = await broker.claim("default", "new:2:bbbbbb", 1, live=False)
    assert (new.try_number, new.owner_id) == (2, owner_id)
    late = make_event("success", job_id=old.job_id, task=old.task, queue=old.queue, try_number=1,
                      priority=old.priority, owner_id=old.owner_id)  # fmt: skip
    broker.finish(old, True, "late", late, live=False)
    await broker.written()
    stale = [e for e in await stream_events(resources) if e["event"] == "stale"]
    assert [(e["job_id"], e["outcome"], e["owner_id"]) for e in stale] == [
        (handle.job_id, "success", owner_id)
    ]


async def test_cancelled_jobs_name_their_owner_wherever_they_were(resources: Resources) -> None:
    owner_id = await _owner(resources)
    async with live_events(resources) as received:
        queued = await jobs.echo.enqueue(resources, countdown_s=60, owner_id=owner_id)
        await control.cancel(resources, queued.job_id)
        dropped = _kinds_and_owners(await _until_final(received, queued.job_id))
        worker = RunningWorker(resources, ["default"])
        try:
            running = await jobs.long.enqueue(resources, seconds=60, owner_id=owner_id)
            await eventually(lambda: marks(resources, running.job_id, "ran"), what="job start")
            await control.cancel(resources, running.job_id)
            stopped = _kinds_and_owners(await _until_final(received, running.job_id))
        finally:
            await worker.close()
    assert dropped == [("queued", 1, owner_id), ("cancelled", 1, owner_id)]
    assert stopped == [("queued", 1, owner_id), ("started", 1, owner_id),
                       ("cancelled", 1, owner_id)]  # fmt: skip


async def test_an_admin_rerun_keeps_the_owner(resources: Resources) -> None:
    owner_id = await _owner(resources)
    async with live_events(resources) as received:
        worker = RunningWorker(resources, ["default"])
        try:
            failed = await jobs.broken.enqueue(resources, owner_id=owner_id)
            assert (await _until_final(received, failed.job_id))[-1]["event"] == "failure"
            await job_events(resources, failed.job_id)  # the rerun reads it from the history
            rerun = await control.retry(resources, failed.job_id)
            assert rerun.new_job_id is not None
            seen = await _until_final(received, rerun.new_job_id)
        finally:
            await worker.close()
    assert _kinds_and_owners(seen) == [
        ("queued", 1, owner_id), ("started", 1, owner_id), ("failure", 1, owner_id)
    ]  # fmt: skip
    assert seen[0]["retry_of"] == failed.job_id


async def test_a_definition_written_before_owners_leaves_owner_id_out(
    resources: Resources,
) -> None:
    """A job an older version queued: its events say nothing of the owner, rather than null."""
    handle = await jobs.echo.enqueue(resources, owner_id=await _owner(resources))
    old = {k: v for k, v in loads(await resources.redis.get(keys.job(handle.job_id))).items()
           if k != "u"}  # fmt: skip
    await resources.redis.set(keys.job(handle.job_id), dumps(old))
    async with live_events(resources) as received:
        seen = await _run_until_final(resources, received, handle.job_id)
    assert _kinds_and_owners(seen) == [("started", 1, "absent"), ("success", 1, "absent")]


async def test_the_feed_routes_by_the_events_owner_without_asking_postgres(
    resources: Resources, api: Api
) -> None:
    broker = broker_for(resources)
    spec = get_task("ping").spec(resources, {}, owner_id=api.user_id)
    await broker.enqueue([spec], live=False)  # its queued event is never seen by the feed
    mine = await joined(api.client, api.user)
    worker = RunningWorker(resources, ["default"])
    try:
        seen = await until(
            mine, lambda m: m["type"] == "job" and m["event"]["event"] == "success", timeout_s=15
        )
    finally:
        await worker.close()
    assert [(m["event"]["job_id"], m["event"]["event"]) for m in seen if m["type"] == "job"] == [
        (spec.job_id, "started"), (spec.job_id, "success")
    ]  # fmt: skip
    assert hub_of(api.client).owners.lookups == 0


async def test_owners_route_legacy_events_after_the_owner_is_known(resources: Resources) -> None:
    """Events without owner_id (an older writer) wait for a lookup; one that names the owner
    releases them first, in order, and goes straight to the owner itself."""
    delivered: list[tuple[int | None, str, str]] = []
    owners = Owners(resources.db, lambda owner, job_id, m: delivered.append((owner, job_id, m)))

    def event(kind: str, job_id: str, **owner: int | None) -> dict[str, object]:
        return {"event": kind, "job_id": job_id, "try": 1, **owner}  # as the hub decoded it

    owners.route(event("started", "legacy"), "m1")  # nobody knows the owner yet: it waits
    assert delivered == []
    owners.route(event("progress", "legacy", owner_id=7), "m2")
    owners.route(event("success", "system", owner_id=None), "m3")
    owners.route(event("success", "legacy"), "m4")  # known now, from the event that said
    assert delivered == [
        (7, "legacy", "m1"), (7, "legacy", "m2"), (None, "system", "m3"), (7, "legacy", "m4")
    ]  # fmt: skip
    assert owners.lookups == 0
