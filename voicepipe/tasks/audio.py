"""The recording jobs: process one recording into chunks, and process a batch of them."""

from __future__ import annotations

from typing import Any

from voicepipe.engine.registry import JobContext, task
from voicepipe.services import processing
from voicepipe.services.processing import PROCESS_TASK, RETRY_ON

__all__ = ["PROCESS_TASK", "batch_process_recordings", "process_audio_recording"]


# 3 tries; a file that is not usable audio (BadAudioError) is not in RETRY_ON: it fails once.
@task(
    queue="audio_processing", name=PROCESS_TASK, max_retries=2, retry_backoff=True,
    autoretry_for=RETRY_ON, soft_time_limit_s=25 * 60, time_limit_s=30 * 60,
    notify_success=True, cpu_preload="voicepipe.audio.warm",
)  # fmt: skip
async def process_audio_recording(ctx: JobContext, recording_id: int) -> dict[str, Any]:
    """Decode, chunk, quality-check and export the recording; replace its chunk rows."""
    return await processing.process_recording(ctx, recording_id)


@task(queue="batch_processing", max_retries=2, autoretry_for=processing.UNAVAILABLE)
async def batch_process_recordings(
    ctx: JobContext, recording_ids: list[int], batch: str | None = None
) -> dict[str, Any]:
    """Queue one process_audio_recording per recording under one batch (`batch`: one opened
    for them already; else one is opened); the batch tells its owner once, when the last ends."""
    return await processing.enqueue_batch(ctx, recording_ids, batch)
