"""A job's status right now: from Redis while the job is live, else from its recorded history."""

from __future__ import annotations

from arq.jobs import deserialize_result

from voicepipe import keys
from voicepipe.domain.jobs import JobStatus
from voicepipe.resources import Resources
from voicepipe.services import broker, monitoring


async def live_status(resources: Resources, job_id: str, queue: str) -> JobStatus | None:
    redis = resources.redis
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.result(job_id))
        pipe.hexists(keys.running(queue), job_id)
        pipe.get(keys.job(job_id))
        pipe.zscore(keys.queue(queue), job_id)
        result, running, definition, ready_rank = await pipe.execute()
    if result is not None:
        outcome = deserialize_result(result, deserializer=broker.loads)
        if outcome.success:
            return JobStatus.SUCCESS
        cancelled = isinstance(outcome.result, dict) and outcome.result.get("cancelled")
        return JobStatus.CANCELLED if cancelled else JobStatus.FAILURE
    if running:
        return JobStatus.STARTED
    if definition is not None:
        if ready_rank is not None:
            return JobStatus.PENDING
        return JobStatus.SCHEDULED if broker.loads(definition)["t"] == 1 else JobStatus.RETRY
    info = await monitoring.get_job_info(resources, job_id)
    return JobStatus(info.status) if info is not None else None
