"""Maintenance jobs that keep the system itself tidy (the platform's own cron jobs live apart)."""

from __future__ import annotations

from typing import Any

from voicepipe.engine.cron import cron
from voicepipe.engine.registry import JobContext, task
from voicepipe.history import retention
from voicepipe.services import batches


@task(queue="maintenance", max_retries=2)
async def prune_job_history(ctx: JobContext) -> dict[str, Any]:
    """Delete job history older than VOICEPIPE_JOB_HISTORY_DAYS."""
    deleted = await retention.prune_job_history(ctx.resources)
    return {"jobs_deleted": deleted, "kept_days": ctx.resources.settings.job_history_days}


cron(prune_job_history, minute=17)  # hourly: each run has little to delete


@task(queue="maintenance", max_retries=2)
async def close_done_batches(ctx: JobContext) -> dict[str, Any]:
    """Close and tell batches whose jobs have all finished but that the recorder's hook missed."""
    closed = await batches.close_done_batches(ctx.resources)
    return {"closed": [summary.id for summary in closed]}


cron(
    close_done_batches, minute=set(range(0, 60, 5))
)  # the hook closes them at once; this is the net
