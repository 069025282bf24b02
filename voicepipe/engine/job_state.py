"""What Redis knows of a job right now: waiting, deferred, running or finished (while its result lasts)."""

from __future__ import annotations

from arq.connections import ArqRedis
from arq.jobs import deserialize_result

from voicepipe import keys
from voicepipe.domain.jobs import JobStatus
from voicepipe.engine.broker import loads


async def redis_status(redis: ArqRedis, job_id: str, queue: str) -> JobStatus | None:
    """The job's status as Redis holds it; None once Redis has forgotten it (its result expired)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.result(job_id))
        pipe.hexists(keys.running(queue), job_id)
        pipe.get(keys.job(job_id))
        pipe.zscore(keys.queue(queue), job_id)
        result, running, definition, ready_rank = await pipe.execute()
    if result is not None:
        outcome = deserialize_result(result, deserializer=loads)
        if outcome.success:
            return JobStatus.SUCCESS
        cancelled = isinstance(outcome.result, dict) and outcome.result.get("cancelled")
        return JobStatus.CANCELLED if cancelled else JobStatus.FAILURE
    if running:
        return JobStatus.STARTED
    if definition is not None:
        if ready_rank is not None:
            return JobStatus.PENDING
        return JobStatus.SCHEDULED if loads(definition)["t"] == 1 else JobStatus.RETRY
    return None
