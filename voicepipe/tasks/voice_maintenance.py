"""The platform's cron jobs for recordings: orphaned audio cleaned up, transient failures retried."""

from __future__ import annotations

from typing import Any

from voicepipe.engine.cron import cron
from voicepipe.engine.registry import JobContext, task
from voicepipe.services import audio_maintenance


@task(queue="maintenance", max_retries=1, time_limit_s=30 * 60)
async def cleanup_orphaned_chunks(ctx: JobContext) -> dict[str, Any]:
    """Delete audio files no row names and chunk rows whose file is gone; report the counts."""
    return await audio_maintenance.cleanup_orphans(ctx.resources)


cron(cleanup_orphaned_chunks, minute=41)  # hourly


@task(queue="maintenance", max_retries=1)
async def reprocess_failed_recordings(ctx: JobContext) -> dict[str, int]:
    """Queue recordings that failed for a transient reason again, a bounded number of times;
    fail those left processing by a job that ended without finishing."""
    return await audio_maintenance.reprocess_failed(ctx.resources)


cron(reprocess_failed_recordings, hour=set(range(0, 24, 2)), minute=23)  # every 2 h
