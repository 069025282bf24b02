"""A job's status right now: from Redis while the job is live, else from its recorded history."""

from __future__ import annotations

from voicepipe.domain.jobs import JobStatus
from voicepipe.engine.job_state import redis_status
from voicepipe.history import monitoring
from voicepipe.resources import Resources


async def live_status(resources: Resources, job_id: str, queue: str) -> JobStatus | None:
    status = await redis_status(resources.redis, job_id, queue)
    if status is not None:
        return status
    info = await monitoring.get_job_info(resources, job_id)
    return JobStatus(info.status) if info is not None else None
