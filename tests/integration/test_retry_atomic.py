"""Retry is atomic: marking a failed job retried and queueing its rerun happen together or not at
all, so a retry that fails leaves the original retryable."""

from __future__ import annotations

import time

import pytest
from redis.exceptions import OutOfMemoryError

from tests.support.engine import RunningWorker
from tests.support.jobs import broken, echo
from tests.support.lifecycles import Life, emit
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.errors import Conflict, InvalidInput
from voicepipe.history import monitoring
from voicepipe.history.recorder import record_pending
from voicepipe.resources import Resources
from voicepipe.services import control


async def _failed_job(resources: Resources) -> str:
    handle = await broken.enqueue(resources)
    worker = RunningWorker(resources, ["default"])
    try:

        async def failed() -> bool:
            info = await monitoring.get_job_info(resources, handle.job_id)
            return info is not None and info.status == "failure"

        await eventually(failed, what="the job to fail for good", timeout_s=20)
    finally:
        await worker.close()
    return handle.job_id


async def test_a_retry_refused_by_redis_leaves_the_job_retryable(resources: Resources) -> None:
    job_id = await _failed_job(resources)
    redis = resources.redis
    await redis.config_set("maxmemory", 1)  # every write refused: out of memory
    try:
        with pytest.raises(OutOfMemoryError):
            await control.retry(resources, job_id)
    finally:
        await redis.config_set("maxmemory", 0)
    assert not await redis.exists(keys.retried_as(job_id))
    rerun = await control.retry(resources, job_id)
    assert (
        rerun.new_job_id and await redis.get(keys.retried_as(job_id)) == rerun.new_job_id.encode()
    )
    with pytest.raises(Conflict, match="retried already"):
        await control.retry(resources, job_id)


async def test_a_retry_that_cannot_be_queued_does_not_mark_the_job_retried(
    resources: Resources,
) -> None:
    """A job recorded in a queue that no longer exists cannot be rerun; saying so must not use up
    its one retry (the rerun was never queued)."""
    now = time.time()
    life = Life("from-old-queue", task=echo.name, queue="retired").queued(now - 2)
    life.add("started", now - 1).add("failure", now, error="ValueError: boom", runtime_s=1.0)
    await emit(resources.redis, life.events)
    await record_pending(resources)
    for _ in range(2):  # the same clear answer each time, not "retried already"
        with pytest.raises(InvalidInput, match="unknown queue 'retired'"):
            await control.retry(resources, "from-old-queue")
    assert not await resources.redis.exists(keys.retried_as("from-old-queue"))
