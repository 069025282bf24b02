"""Nothing is lost in a claim: a job whose definition expired or cannot be read fails with that
reason (in the dead letter), the worker keeps running, and a purge takes such jobs too."""

from __future__ import annotations

import pickle

from tests.support.engine import RunningWorker
from tests.support.jobs import echo
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.domain.job_info import JobInfo
from voicepipe.engine import unqueue
from voicepipe.history import monitoring
from voicepipe.resources import Resources


async def _failed(resources: Resources, job_id: str) -> JobInfo | None:
    info = await monitoring.get_job_info(resources, job_id)
    return info if info is not None and info.status == "failure" else None


async def _queue_foreign(resources: Resources, job_id: str, definition: bytes) -> None:
    """A definition another client wrote into a voicepipe queue."""
    await resources.redis.set(keys.job(job_id), definition)
    await resources.redis.zadd(keys.queue("default"), {job_id: 0})


async def test_jobs_that_cannot_run_fail_with_the_reason_and_the_worker_keeps_going(
    resources: Resources,
) -> None:
    expired = await echo.enqueue(resources, value="gone")
    await resources.redis.delete(keys.job(expired.job_id))  # what its expiry does
    await _queue_foreign(resources, "pickled", pickle.dumps({"t": 1, "f": "t_echo", "k": {}}))
    await _queue_foreign(resources, "not-a-job", b'{"hello": "world"}')
    worker = RunningWorker(resources, ["default"])
    try:
        reasons = {}
        for job_id in (expired.job_id, "pickled", "not-a-job"):
            info = await eventually(lambda j=job_id: _failed(resources, j), what=f"{job_id} failed")
            reasons[job_id] = info.error
        after = await echo.enqueue(resources, value="after")
        assert (await after.result(timeout_s=10))["value"] == "after"
    finally:
        await worker.close()
    assert "definition expired" in (reasons[expired.job_id] or "")
    assert "unreadable definition: not JSON" in (reasons["pickled"] or "")
    assert "unreadable definition: JSON without the fields" in (reasons["not-a-job"] or "")
    dead = await monitoring.get_failed_tasks(resources)
    assert {j.task_id for j in dead.items} == {expired.job_id, "pickled", "not-a-job"}
    expired_info = await monitoring.get_job_info(resources, expired.job_id)
    assert (
        expired_info is not None and expired_info.task_name == "t_echo"
    )  # known from its queueing
    assert not await resources.redis.exists(keys.job("pickled"), keys.job("not-a-job"))
    assert await resources.redis.zcard(keys.queue("default")) == 0


async def test_a_purge_takes_unreadable_jobs_too(resources: Resources) -> None:
    kept = await echo.enqueue(resources, value=1)
    await _queue_foreign(resources, "pickled", pickle.dumps({"t": 1}))
    assert await unqueue.purge(resources, "default", "purged by a test") == 2
    assert await resources.redis.zcard(keys.queue("default")) == 0
    assert not await resources.redis.exists(keys.job("pickled"), keys.job(kept.job_id))
