"""Admin actions on jobs against a real worker: cancel, terminate, retry, and each refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psutil
import pytest

from tests.support.engine import RunningWorker, job_events, marks
from tests.support.jobs import broken, cpu, echo, long
from tests.support.waiting import eventually
from voicepipe.domain.jobs import JobStatus
from voicepipe.engine.broker import Broker, ClaimedJob
from voicepipe.engine.events import make_event
from voicepipe.engine.registry import broker_for
from voicepipe.errors import Conflict, InvalidInput, NotFound
from voicepipe.history import monitoring
from voicepipe.resources import Resources
from voicepipe.services import control


@pytest.fixture
async def worker(resources: Resources) -> AsyncIterator[RunningWorker]:
    running = RunningWorker(resources, ["default"])
    yield running
    await running.close()


async def test_a_job_cancelled_while_queued_never_runs(resources: Resources) -> None:
    ready = await echo.enqueue(resources, value="ready")
    deferred = await echo.enqueue(resources, value="later", countdown_s=60)
    for handle in (ready, deferred):
        assert (await control.cancel(resources, handle.job_id)).outcome == "cancelled"
        assert await handle.status() == JobStatus.CANCELLED
    running = RunningWorker(resources, ["default"])
    try:
        after = await echo.enqueue(resources, value="after")
        await after.result(timeout_s=10)
    finally:
        await running.close()
    for handle in (ready, deferred):
        timeline = await job_events(resources, handle.job_id)
        assert [e["event"] for e in timeline] == ["queued", "cancelled"]
        assert await marks(resources, handle.job_id, "ran") == []


async def test_cancelling_a_running_job_interrupts_it_and_runs_its_cleanup(
    worker: RunningWorker, resources: Resources
) -> None:
    handle = await long.enqueue(resources, seconds=60)
    await eventually(lambda: marks(resources, handle.job_id, "ran"), what="the job to start")
    result = await control.cancel(resources, handle.job_id)
    assert result.outcome == "cancelled"
    assert await marks(resources, handle.job_id, "saw_cancel") == [1]
    assert await marks(resources, handle.job_id, "cleanup") == [1]
    timeline = await job_events(resources, handle.job_id)
    assert [e["event"] for e in timeline] == ["queued", "started", "cancelled"]
    assert timeline[-1]["reason"] == "cancelled by an admin"
    assert worker.process.executor.counters["cancelled"] == 1


async def test_terminate_kills_the_jobs_cpu_child_at_once(
    worker: RunningWorker, resources: Resources
) -> None:
    handle = await cpu.enqueue(resources, seconds=60)
    pids = await eventually(
        lambda: _async(worker.process.cpu.pids(handle.job_id)), what="the CPU child to start"
    )
    child = psutil.Process(pids[0])
    result = await control.terminate(resources, handle.job_id)
    assert result.outcome == "terminated"
    # the bound: the CPU process is gone within one second of the terminate call
    await eventually(lambda: _async(not _alive(child)), timeout_s=1.0, what="the child to die")
    timeline = await job_events(resources, handle.job_id)
    assert timeline[-1]["event"] == "cancelled"
    assert timeline[-1]["reason"] == "terminated by an admin"
    assert await handle.status() == JobStatus.CANCELLED


async def test_actions_refuse_what_the_jobs_state_does_not_allow(
    worker: RunningWorker, resources: Resources
) -> None:
    with pytest.raises(NotFound):
        await control.cancel(resources, "no-such-job")
    done = await echo.enqueue(resources, value=1)
    await done.result(timeout_s=10)
    await job_events(resources, done.job_id)
    with pytest.raises(Conflict, match="is success; only queued or running"):
        await control.cancel(resources, done.job_id)
    with pytest.raises(Conflict, match="only failed or cancelled jobs can be retried"):
        await control.retry(resources, done.job_id)
    with pytest.raises(InvalidInput, match="countdown"):
        await control.retry(resources, done.job_id, countdown_s=-1)

    running = await long.enqueue(resources, seconds=60)
    await eventually(lambda: marks(resources, running.job_id, "ran"), what="the job to start")
    await eventually(lambda: _recorded_as(resources, running.job_id, "started"))
    with pytest.raises(Conflict, match="only failed or cancelled jobs can be retried"):
        await control.retry(resources, running.job_id)
    await control.terminate(resources, running.job_id)

    waiting = await echo.enqueue(resources, value=2, countdown_s=60)
    await eventually(lambda: _recorded_as(resources, waiting.job_id, "scheduled"))
    with pytest.raises(Conflict, match="not running: cancel it instead"):
        await control.terminate(resources, waiting.job_id)


async def test_retry_reruns_a_failed_job_after_its_countdown_linked_to_it(
    worker: RunningWorker, resources: Resources
) -> None:
    failed = await broken.enqueue(resources)
    first = await job_events(resources, failed.job_id)
    assert first[-1]["event"] == "failure"
    result = await control.retry(resources, failed.job_id, countdown_s=0.5)
    assert result.outcome == "queued" and result.new_job_id
    rerun = await job_events(resources, result.new_job_id)
    queued, started = rerun[0], rerun[1]
    assert queued["retry_of"] == failed.job_id
    assert started["at"] - queued["at"] >= 0.5  # the countdown was honoured
    info = await monitoring.get_job_info(resources, result.new_job_id)
    assert info is not None and info.retry_of == failed.job_id and info.args == {}
    with pytest.raises(Conflict, match="retried already"):
        await control.retry(resources, failed.job_id)
    # the dead-letter view now shows the rerun's failure, not the original's
    dead = await monitoring.get_failed_tasks(resources)
    assert [j.task_id for j in dead.items] == [result.new_job_id]


async def test_a_job_cancelled_while_its_worker_was_lost_is_dropped_when_claimed_again(
    resources: Resources,
) -> None:
    handle = await long.enqueue(resources, seconds=60)
    broker = broker_for(resources)
    (claimed,), _ = await broker.claim("default", "lost-worker", 1, live=False)
    outcome = await control.cancel(resources, handle.job_id, wait_s=0.1)
    assert outcome.outcome == "stopping"  # nobody is there to stop it
    await _release(broker, claimed)  # what orphan recovery does once the heartbeat expires
    running = RunningWorker(resources, ["default"])
    try:
        timeline = await job_events(resources, handle.job_id)
    finally:
        await running.close()
    assert timeline[-1]["event"] == "cancelled"
    assert await marks(resources, handle.job_id, "ran") == []


async def _release(broker: Broker, job: ClaimedJob) -> None:
    event = make_event(
        "queued", job_id=job.job_id, task=job.task, queue=job.queue, try_number=2,
        priority=job.priority,
    )  # fmt: skip
    await broker.hand_back(job, event, live=False)


async def _recorded_as(resources: Resources, job_id: str, status: str) -> bool:
    info = await monitoring.get_job_info(resources, job_id)
    return info is not None and info.status == status


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def _async(value: object) -> object:
    return value
