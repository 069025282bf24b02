"""The job engine against real Valkey: retries, permanent failures, limits, CPU work, progress."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psutil
import pytest

from tests.support import jobs
from tests.support.engine import RunningWorker, job_events, live_events, marks, next_event
from tests.support.waiting import eventually
from voicepipe.domain.jobs import JobStatus
from voicepipe.engine.registry import JobFailed
from voicepipe.history import monitoring
from voicepipe.resources import Resources
from voicepipe.settings import QUEUES


@pytest.fixture
async def worker(resources: Resources) -> AsyncIterator[RunningWorker]:
    running = RunningWorker(resources, list(QUEUES))
    yield running
    await running.close()


async def test_transient_errors_retry_with_growing_jittered_backoff(
    resources: Resources, worker: RunningWorker
) -> None:
    handle = await jobs.flaky.enqueue(resources, succeed_on=3)
    assert await handle.result(timeout_s=30) == 3
    events = await job_events(resources, handle.job_id)
    kinds = [e["event"] for e in events]
    assert kinds == ["queued", "started", "retry", "started", "retry", "started", "success"]
    retries = [e for e in events if e["event"] == "retry"]
    starts = [e for e in events if e["event"] == "started"]
    assert [e["try"] for e in starts] == [1, 2, 3]
    base_s = resources.settings.job_retry_delay_s
    for n, retry in enumerate(retries, start=1):
        delay_s = retry["eta"] - retry["at"]
        assert 0 <= delay_s <= base_s * 2 ** (n - 1) + 0.05, (
            n,
            delay_s,
        )  # full jitter under the cap
        assert "Flaky: try" in retry["error"] and "Traceback" in retry["traceback"]
    # Each try starts no earlier than the delay its retry announced.
    for retry, start in zip(retries, starts[1:], strict=True):
        assert start["at"] >= retry["eta"] - 0.01


async def test_permanent_error_fails_at_once(resources: Resources, worker: RunningWorker) -> None:
    handle = await jobs.broken.enqueue(resources)
    with pytest.raises(JobFailed, match="corrupt input"):
        await handle.result(timeout_s=10)
    assert await marks(resources, handle.job_id, "ran") == [1]
    kinds = [e["event"] for e in await job_events(resources, handle.job_id)]
    assert kinds == ["queued", "started", "failure"]
    assert await handle.status() == JobStatus.FAILURE
    info = await monitoring.get_job_info(resources, handle.job_id)
    assert info is not None and (info.retry_count, info.max_retries) == (0, 3)  # tries were left


async def test_retries_run_out_into_failure(resources: Resources, worker: RunningWorker) -> None:
    handle = await jobs.flaky.enqueue(resources, succeed_on=99)
    with pytest.raises(JobFailed, match="Flaky"):
        await handle.result(timeout_s=60)
    assert await marks(resources, handle.job_id, "ran") == [1, 2, 3, 4]  # max_retries=3: four tries
    assert (await job_events(resources, handle.job_id))[-1]["event"] == "failure"
    info = await monitoring.get_job_info(resources, handle.job_id)
    assert info is not None and (info.status, info.retry_count) == ("failure", 3)


async def test_a_task_can_ask_for_a_retry_with_its_own_countdown(
    resources: Resources, worker: RunningWorker
) -> None:
    handle = await jobs.retry_self.enqueue(resources, wait_s=0.2)
    assert await handle.result(timeout_s=10) == 2
    retry = next(e for e in await job_events(resources, handle.job_id) if e["event"] == "retry")
    assert retry["eta"] - retry["at"] == pytest.approx(0.2, abs=0.05)


async def test_soft_limit_interrupts_at_an_await_and_cleanup_runs(
    resources: Resources, worker: RunningWorker
) -> None:
    handle = await jobs.soft.enqueue(resources)
    with pytest.raises(JobFailed, match="SoftTimeLimitExceeded"):
        await handle.result(timeout_s=10)
    assert await marks(resources, handle.job_id, "saw_soft") == [1]
    assert await marks(resources, handle.job_id, "cleanup") == [1]


async def test_hard_limit_frees_the_slot_of_a_job_that_ignores_cancellation(
    resources: Resources, worker: RunningWorker
) -> None:
    handle = await jobs.stubborn.enqueue(resources)
    with pytest.raises(JobFailed, match="hard time limit"):
        await handle.result(timeout_s=10)
    assert await marks(resources, handle.job_id, "refused_cancel")
    assert handle.job_id not in worker.process.running["default"]


async def test_cpu_work_keeps_the_loop_responsive(
    resources: Resources, worker: RunningWorker
) -> None:
    cpu_job = await jobs.cpu.enqueue(resources, seconds=4)
    await eventually(lambda: marks(resources, cpu_job.job_id, "ran"), what="the CPU job to start")
    for _ in range(5):  # quick jobs finish while the CPU job is still busy
        quick = await jobs.echo.enqueue(resources, value=1)
        assert (await quick.result(timeout_s=2))["value"] == 1
    assert await cpu_job.status() == JobStatus.STARTED
    child_pid = await cpu_job.result(timeout_s=10)
    assert psutil.pid_exists(child_pid)  # the child stays in the pool for the next job


async def test_hard_limit_kills_the_cpu_child(resources: Resources, worker: RunningWorker) -> None:
    handle = await jobs.cpu_hard.enqueue(resources, seconds=60)
    pids = await eventually(
        lambda: asyncio.sleep(0, worker.process.cpu.pids(handle.job_id)), what="a CPU child"
    )
    with pytest.raises(JobFailed, match="hard time limit"):
        await handle.result(timeout_s=10)
    await eventually(lambda: asyncio.sleep(0, not any(psutil.pid_exists(p) for p in pids)), timeout_s=1,
                     what="the CPU child to be gone")  # fmt: skip


async def test_progress_is_published_and_recorded(
    resources: Resources, worker: RunningWorker
) -> None:
    async with live_events(resources) as events:
        handle = await jobs.progress.enqueue(resources, steps=3)
        first = await next_event(events, "progress")
    assert first["job_id"] == handle.job_id
    assert first["progress"] == {"current": 1, "total": 3, "info": {"stage": "counting"}}
    assert await handle.result(timeout_s=10) == 3
    await job_events(resources, handle.job_id)
    info = await monitoring.get_job_info(resources, handle.job_id)
    assert info.progress["current"] == 3  # the last step is never throttled away


async def test_bad_arguments_fail_clearly_without_retry(
    resources: Resources, worker: RunningWorker
) -> None:
    handle = await jobs.echo.enqueue(resources, nonsense=1)
    with pytest.raises(JobFailed, match="bad arguments for t_echo"):
        await handle.result(timeout_s=10)


async def test_countdown_defers_the_job(resources: Resources, worker: RunningWorker) -> None:
    handle = await jobs.echo.enqueue(resources, value="later", countdown_s=0.5)
    assert await handle.status() == JobStatus.SCHEDULED
    assert (await handle.result(timeout_s=10))["value"] == "later"
    events = await job_events(resources, handle.job_id)
    assert events[1]["at"] >= events[0]["eta"] - 0.01


async def test_soft_limit_during_cpu_work_kills_the_child_and_runs_cleanup(
    resources: Resources, worker: RunningWorker
) -> None:
    handle = await jobs.cpu_soft.enqueue(resources, seconds=60)
    pids = await eventually(
        lambda: asyncio.sleep(0, worker.process.cpu.pids(handle.job_id)), what="a CPU child"
    )
    with pytest.raises(JobFailed, match="SoftTimeLimitExceeded"):
        await handle.result(timeout_s=10)
    assert await marks(resources, handle.job_id, "saw_soft") == [1]
    assert await marks(resources, handle.job_id, "cleanup") == [1]
    assert not any(psutil.pid_exists(p) for p in pids)
