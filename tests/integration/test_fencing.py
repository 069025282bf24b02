"""Fenced outcomes: a worker that stalled past its heartbeat had its jobs released and run again
elsewhere; when it wakes, its late finish, retry or hand-back changes nothing of the new try."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from arq.jobs import deserialize_result

from tests.support.engine import job_events, stream_events
from tests.support.jobs import echo
from tests.support.waiting import eventually
from tests.support.workers import n_live, worker_pid, worker_processes
from voicepipe import keys
from voicepipe.engine.broker import Broker, ClaimedJob, loads
from voicepipe.engine.events import EventType, make_event
from voicepipe.engine.registry import broker_for
from voicepipe.engine.running import RunningEntry, running_entries
from voicepipe.history import monitoring
from voicepipe.history.recorder import record_pending
from voicepipe.resources import Resources
from voicepipe.settings import Settings
from voicepipe.tasks.chaos import chaos_nap

STALLED = "stalled-host:1:aaaaaa"


def _event(job: ClaimedJob, kind: EventType, try_number: int, worker: str) -> dict[str, Any]:
    return make_event(kind, job_id=job.job_id, task=job.task, queue=job.queue,
                      try_number=try_number, priority=job.priority, worker=worker)  # fmt: skip


async def _stale_events(resources: Resources, job_id: str) -> list[dict[str, Any]]:
    return [
        e for e in await stream_events(resources) if e["job_id"] == job_id and e["event"] == "stale"
    ]


async def _stale_anywhere(resources: Resources, job_id: str) -> list[dict[str, Any]]:
    """The job's stale events, in the stream or, once the recorder has trimmed them, the history."""
    recorded = [
        {**e.data, "try": e.try_number, "worker": e.worker}
        for e in await monitoring.get_job_timeline(resources, job_id)
        if e.event == "stale"
    ]
    return recorded or await _stale_events(resources, job_id)


async def _released_and_claimed_again(broker: Broker, old: ClaimedJob) -> ClaimedJob:
    """What recovery does to a stalled worker's job: back in its queue as try 2, claimed anew."""
    assert await broker.hand_back(old, _event(old, "queued", 2, STALLED), live=False)
    (new,), _ = await broker.claim("default", "new-owner:2:bbbbbb", 1, live=False)
    assert (new.job_id, new.try_number) == (old.job_id, 2)
    return new


async def test_late_outcomes_of_a_released_try_change_nothing(resources: Resources) -> None:
    redis = resources.redis
    broker = broker_for(resources)
    handle = await echo.enqueue(resources, value=1)
    (old,), _ = await broker.claim("default", STALLED, 1, live=False)
    new = await _released_and_claimed_again(broker, old)
    job_id = handle.job_id
    definition = await redis.get(keys.job(job_id))
    entry = await redis.hget(keys.running("default"), job_id)
    assert definition is not None and loads(entry)["worker"] == "new-owner:2:bbbbbb"

    due_ms = int(time.time() * 1000) + 60_000
    assert not await broker.retry_later(old, due_ms, _event(old, "retry", 1, STALLED), live=False)
    assert not await broker.hand_back(old, _event(old, "queued", 2, STALLED), live=False)
    broker.finish(old, True, {"late": True}, _event(old, "success", 1, STALLED), live=False)
    await broker.written()

    assert await redis.get(keys.job(job_id)) == definition
    assert await redis.hget(keys.running("default"), job_id) == entry
    assert not await redis.exists(keys.result(job_id))
    assert (
        await redis.zcard(keys.queue("default")) == await redis.zcard(keys.deferred("default")) == 0
    )
    stale = await _stale_events(resources, job_id)
    assert [(e["outcome"], e["try"], e["worker"]) for e in stale] == [
        ("retry", 1, STALLED), ("queued", 1, STALLED), ("success", 1, STALLED),
    ]  # fmt: skip
    assert broker.stale_outcomes == 3

    # the new owner's own outcome still lands, and the history ends with it
    broker.finish(
        new, True, {"value": 1}, _event(new, "success", 2, "new-owner:2:bbbbbb"), live=False
    )
    await broker.written()
    result = deserialize_result(await redis.get(keys.result(job_id)), deserializer=loads)
    assert result.success and result.result == {"value": 1} and result.job_try == 2
    await record_pending(resources)
    timeline = await job_events(resources, job_id)
    assert [(e["event"], e["try"]) for e in timeline] == [
        ("queued", 1), ("started", 1), ("queued", 2), ("started", 2),
        ("stale", 1), ("stale", 1), ("stale", 1), ("success", 2),
    ]  # fmt: skip


async def test_a_worker_stopped_past_its_heartbeat_and_resumed_changes_nothing(
    resources: Resources, settings: Settings, tmp_path: Path
) -> None:
    redis = resources.redis
    with worker_processes(settings, tmp_path, 2):
        await eventually(lambda: n_live(resources, 2), timeout_s=30, what="two workers to beat")
        handle = await chaos_nap.enqueue(resources, seconds=3.0, run_id="stall")
        (first,) = await eventually(
            lambda: running_entries(redis, ["default"]), what="the job to be claimed"
        )
        await eventually(
            lambda: redis.hget(keys.chaos_runs("stall"), handle.job_id), what="its nap to start"
        )
        stalled = await worker_pid(resources, first.worker)
        os.kill(stalled, signal.SIGSTOP)
        try:

            async def rerun_elsewhere() -> RunningEntry | None:
                entries = await running_entries(redis, ["default"])
                return entries[0] if entries and entries[0].worker != first.worker else None

            second = await eventually(
                rerun_elsewhere, timeout_s=20, what="the job to run again on the other worker"
            )
        finally:
            os.kill(stalled, signal.SIGCONT)
        # the stalled worker wakes long after its 3 s nap was due: its success comes at once
        (stale,) = await eventually(
            lambda: _stale_anywhere(resources, handle.job_id), what="the late outcome to be dropped"
        )
        assert (stale["outcome"], stale["try"], stale["worker"]) == ("success", 1, first.worker)
        # ...and left the new try alone: still running where it runs, no result yet
        assert await running_entries(redis, ["default"]) == [second]
        assert not await redis.exists(keys.result(handle.job_id))
        assert await handle.result(timeout_s=15) == {"try": 2, "slept_s": 3.0}
        timeline = await job_events(resources, handle.job_id)
    assert [(e["event"], e["try"], e["worker"]) for e in timeline] == [
        ("queued", 1, None),
        ("started", 1, first.worker),
        ("retry", 1, first.worker),
        ("started", 2, second.worker),
        ("stale", 1, first.worker),
        ("success", 2, second.worker),
    ]
    assert timeline[2]["orphaned"] is True
    assert await redis.hget(keys.chaos_runs("stall"), handle.job_id) == b"2"
