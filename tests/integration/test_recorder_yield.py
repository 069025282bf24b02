"""The recorder steps aside while its worker bursts, but never past the backlog bound."""

from __future__ import annotations

import asyncio
import time

from tests.support.engine import RunningWorker
from tests.support.jobs import echo
from tests.support.lifecycles import Life, emit
from tests.support.waiting import eventually
from voicepipe.history.recorder import Recorder
from voicepipe.resources import Resources

T0 = 1_800_000_000.0


async def _recorded(resources: Resources) -> int:
    count: int = await resources.db.fetchval("SELECT count(*) FROM jobs")
    return count


async def _emit_jobs(resources: Resources, prefix: str, n: int) -> None:
    events = []
    for i in range(n):
        life = Life(f"{prefix}{i}").queued(T0)
        events += life.add("started", T0 + 1).add("success", T0 + 2, result=i).events
    await emit(resources.redis, events)


async def test_busy_worker_defers_recording_until_the_burst_ends(resources: Resources) -> None:
    recorder = Recorder(resources, "r1")
    recorder.backlog_bound = 1000
    bursting = True
    asked = 0

    def busy() -> bool:
        nonlocal asked
        asked += 1
        return bursting

    stop = asyncio.Event()
    running = asyncio.create_task(recorder.run(stop, busy=busy))
    try:
        await _emit_jobs(resources, "a", 10)  # 30 events: under the bound
        seen = asked

        async def stepped_aside_twice() -> bool:  # with the events waiting in the stream
            return asked >= seen + 3

        await eventually(stepped_aside_twice, what="the recorder loop to step aside twice")
        assert await _recorded(resources) == 0
        bursting = False
        await eventually(lambda: _count_is(resources, 10), what="the backlog to be recorded")
    finally:
        stop.set()
        await running


async def test_backlog_past_the_bound_is_recorded_even_while_busy(resources: Resources) -> None:
    recorder = Recorder(resources, "r1")
    recorder.backlog_bound = 20
    stop = asyncio.Event()
    running = asyncio.create_task(recorder.run(stop, busy=lambda: True))
    try:
        await _emit_jobs(resources, "b", 10)  # 30 events: past the bound of 20
        recorded = await eventually(
            lambda: _recorded(resources), what="recording despite the burst"
        )
        assert recorded > 0
    finally:
        stop.set()
        await running


async def _count_is(resources: Resources, n: int) -> bool:
    return await _recorded(resources) == n


async def test_a_worker_counts_as_bursting_right_after_it_claims_jobs(
    resources: Resources,
) -> None:
    # The bug this catches: the claim loop never marked its claims, so the recorder never yielded.
    worker = RunningWorker(resources, ["default"])
    try:
        assert not worker.process._bursting()
        before = time.monotonic()
        await (await echo.enqueue(resources, value=1)).result(timeout_s=10)
        assert worker.process.last_claim_at >= before
    finally:
        await worker.close()
