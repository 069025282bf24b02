"""Orphaned jobs against real Valkey: released once, only when their worker is lost, rerun as a new try."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from tests.support import jobs
from tests.support.engine import RunningWorker, job_events
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.db.jobs import jobs_by_ids
from voicepipe.domain.jobs import JobStatus
from voicepipe.engine import orphans
from voicepipe.engine.broker import Broker, dumps, loads
from voicepipe.engine.heartbeats import write_heartbeat
from voicepipe.engine.registry import JobFailed, broker_for
from voicepipe.engine.running import running_entries
from voicepipe.history.monitoring import get_job_timeline
from voicepipe.history.recorder import Recorder, record_pending
from voicepipe.resources import Resources
from voicepipe.worker.reaper import TRUST_AFTER_S, Reaper

GHOST = "ghost-host:4242:dead00"  # a worker that claimed a job and vanished before any heartbeat


async def test_a_job_of_a_worker_that_never_beat_runs_again_as_a_new_try(
    resources: Resources,
) -> None:
    broker = broker_for(resources)
    handle = await jobs.echo.enqueue(resources, value="again")
    claimed, _ = await broker.claim("default", GHOST, 1, live=True)
    assert [job.job_id for job in claimed] == [handle.job_id]
    started = time.monotonic()
    worker = RunningWorker(resources, ["default"])
    try:
        result = await handle.result(timeout_s=10)
        elapsed_s = time.monotonic() - started
    finally:
        await worker.close()
    assert result["try"] == 2
    # A second for the claim's grace and a scan; up to five more when the suite's Valkey has only
    # just started (a reaper trusts a missing heartbeat only once Redis has been up that long).
    assert elapsed_s < 1 + TRUST_AFTER_S + 1
    events = await job_events(resources, handle.job_id)
    assert [(e["event"], e["try"]) for e in events] == [
        ("queued", 1), ("started", 1), ("retry", 1), ("started", 2), ("success", 2),
    ]  # fmt: skip
    lost = events[2]
    assert lost["orphaned"] is True and lost["worker"] == GHOST
    assert lost["error"].startswith("WorkerLost:")
    assert lost["released_by"] == worker.process.worker_id == events[3]["worker"]
    assert await resources.redis.hlen(keys.running("default")) == 0


async def test_only_lost_workers_jobs_are_released_and_only_once(resources: Resources) -> None:
    broker = broker_for(resources)
    await jobs.echo.enqueue(resources, value="alive")
    await jobs.echo.enqueue(resources, value="lost")
    await write_heartbeat(resources.redis, "alive-worker", {})
    # two jobs queued in the same millisecond rank alike: which one each worker gets is the claim's
    (mine,), _ = await broker.claim("default", "alive-worker", 1, live=True)
    (theirs,), _ = await broker.claim("default", "lost-worker", 1, live=True)

    async def three_reapers_at_once() -> list[orphans.Released]:
        passes = await asyncio.gather(
            *(orphans.release_orphans(broker, f"reaper-{n}") for n in range(3))
        )
        return [released for one_pass in passes for released in one_pass]

    released = await eventually(three_reapers_at_once, what="the lost worker's job to be released")
    assert [r.entry.job_id for r in released] == [theirs.job_id]  # one reaper won, once
    assert released[0].try_number == 2
    assert await broker.redis.hexists(keys.running("default"), mine.job_id)
    assert await broker.redis.zscore(keys.queue("default"), theirs.job_id) is not None
    assert await three_reapers_at_once() == []


async def test_a_worker_releases_an_entry_of_its_own_it_is_not_running(
    resources: Resources,
) -> None:
    worker = RunningWorker(resources, ["audio_processing"])
    try:
        handle = await jobs.echo.enqueue(
            resources, value="forgotten"
        )  # queue default: not served here
        broker = broker_for(resources)
        await broker.claim("default", worker.process.worker_id, 1, live=True)  # reply "lost"
        reaper = Reaper(worker.process, own_stale_ms=0)
        released = await eventually(reaper.scan, what="the forgotten claim to be released")
        assert reaper.taking_over is not None
        await reaper.taking_over
        assert [r.entry.job_id for r in released] == [handle.job_id]
        assert await broker.redis.zscore(keys.queue("default"), handle.job_id) is not None
    finally:
        await worker.close()


@dataclass
class Bystander:
    """Just enough of a worker process for a Reaper: it runs nothing and serves nothing."""

    broker: Broker
    recorder: Recorder
    worker_id: str = "bystander"
    running: dict[str, dict[str, object]] = field(default_factory=dict)
    live_events: bool = True


async def test_a_reaper_trusts_missing_heartbeats_only_after_redis_was_reachable_a_while(
    resources: Resources,
) -> None:
    broker = broker_for(resources)
    handle = await jobs.echo.enqueue(resources)
    await broker.claim("default", GHOST, 1, live=True)

    async def old_enough() -> bool:
        (entry,) = await running_entries(broker.redis, ["default"])
        return time.time() * 1000 - entry.started_ms > orphans.MIN_AGE_MS + 50

    # The ghost's recorder had read the job's events and died before recording them.
    await Recorder(resources, "unused").ensure_group()
    read = await resources.redis.xreadgroup(keys.RECORDERS, GHOST, {keys.EVENTS: ">"})
    assert len(read[0][1]) == 2  # queued, started
    await eventually(old_enough, what="the entry to pass the claim grace")
    wary = Reaper(Bystander(broker, Recorder(resources, "bystander")))
    wary.redis_lost_at = time.monotonic()  # as after a failed scan
    assert await wary.scan() == []
    assert wary.taking_over is not None
    await wary.taking_over
    assert await broker.redis.hexists(keys.running("default"), handle.job_id)
    assert await jobs_by_ids(resources.db, [handle.job_id]) == {}
    trusting = Reaper(Bystander(broker, Recorder(resources, "bystander")))
    assert [r.entry.job_id for r in await trusting.scan()] == [handle.job_id]
    assert trusting.taking_over is not None
    await trusting.taking_over  # the ghost's events are recorded now, not after the claim idle time
    timeline = await get_job_timeline(resources, handle.job_id)
    assert [e.event for e in timeline] == ["queued", "started"]
    pending = await resources.redis.xpending(keys.EVENTS, keys.RECORDERS)
    assert GHOST not in [c["name"].decode() for c in pending["consumers"]]


async def test_a_job_lost_with_its_worker_again_and_again_fails_instead(
    resources: Resources,
) -> None:
    broker = broker_for(resources)
    handle = await jobs.echo.enqueue(resources, value="poison")
    job = loads(await resources.redis.get(keys.job(handle.job_id)))
    # As if it had been released MAX_LOSSES times in a row already.
    await resources.redis.set(keys.job(handle.job_id), dumps({**job, "o": orphans.MAX_LOSSES}))
    await broker.claim("default", GHOST, 1, live=True)
    released = await eventually(
        lambda: orphans.release_orphans(broker, "reaper"), what="the job to be given up"
    )
    assert [(r.entry.job_id, r.try_number) for r in released] == [(handle.job_id, 0)]
    with pytest.raises(JobFailed, match=f"lost {orphans.MAX_LOSSES + 1} times in a row"):
        await handle.result(timeout_s=1)
    assert await resources.redis.exists(keys.job(handle.job_id)) == 0
    assert await resources.redis.hlen(keys.running("default")) == 0
    assert await resources.redis.zcard(keys.queue("default")) == 0
    await record_pending(resources)
    (info,) = (await jobs_by_ids(resources.db, [handle.job_id])).values()
    assert info.status == JobStatus.FAILURE and info.error is not None
    assert info.error.startswith("WorkerLost:")
