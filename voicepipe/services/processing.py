"""Processing a recording into chunks (what process_audio_recording does), and batches of them.

A run analyses the recording and exports its chunks in the worker's CPU pool, into a folder of
its own (its job id and try number), then replaces the recording's chunk rows in one
transaction and removes the folders of earlier runs: a run that crashed half way leaves a folder
the next run replaces, never a second set of chunks. A file that is not usable audio fails the
recording and the job once (BadAudioError is permanent); a file or database that cannot be
reached now fails the try, and the job is run again.
"""

from __future__ import annotations

import logging
import re
import shutil
from typing import Any

import asyncpg

from voicepipe.audio.errors import AudioError, BadAudioError, TransientAudioError
from voicepipe.audio.pipeline import RecordingAnalysis, analyse_recording, export_recording
from voicepipe.audio.storage import Storage
from voicepipe.db import batches as batches_db
from voicepipe.db import processing as processing_db
from voicepipe.db import recordings as recordings_db
from voicepipe.domain.chunking import ChunkingConfig
from voicepipe.domain.jobs import TERMINAL
from voicepipe.domain.quality import QualityThresholds, quality_flags
from voicepipe.domain.recordings import Recording
from voicepipe.engine.registry import JobContext, broker_for, get_task
from voicepipe.errors import (
    DependencyUnavailable,
    InvalidInput,
    JobCancelled,
    SoftTimeLimitExceeded,
)
from voicepipe.history.job_status import live_status
from voicepipe.services.batches import open_batch
from voicepipe.settings import Settings

log = logging.getLogger(__name__)

# PostgreSQL or the disk away for a moment (disk full, connection lost): worth another try.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    DependencyUnavailable,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
)
RETRY_ON: tuple[type[BaseException], ...] = (TransientAudioError, *UNAVAILABLE)
PROCESS_TASK = "process_audio_recording"  # the name uploads and batches enqueue it by
_NOT_IN_GENERATION = re.compile(r"[^0-9a-z_-]")


def chunking_config(settings: Settings) -> ChunkingConfig:
    return ChunkingConfig(min_s=settings.chunk_min_s, max_s=settings.chunk_max_s)


def quality_thresholds(settings: Settings) -> QualityThresholds:
    return QualityThresholds(
        min_speech_dbfs=settings.quality_min_speech_dbfs,
        max_clipping=settings.quality_max_clipping,
        min_snr_db=settings.quality_min_snr_db,
        min_speech_ratio=settings.quality_min_speech_ratio,
        max_flatness=settings.quality_max_flatness,
    )


def generation_of(job_id: str, try_number: int) -> str:
    """The chunk folder name of one try of one job (job ids may hold characters folders don't)."""
    return f"{_NOT_IN_GENERATION.sub('_', job_id.lower())[:56]}-{try_number}"


def result_of(recording: Recording) -> dict[str, Any]:
    """The job's result for a processed recording (the success notification shows `summary`)."""
    n = recording.chunk_count
    return {
        "recording_id": recording.id,
        "chunks": n,
        "duration_s": recording.duration_s,
        "quality_flags": recording.quality_flags,
        "summary": f"processed into {n} chunk{'' if n == 1 else 's'}",
    }


def _gone(recording_id: int, why: str) -> dict[str, Any]:
    return {"recording_id": recording_id, "chunks": 0, "duration_s": None, "quality_flags": [],
            "summary": f"recording {recording_id} {why}; nothing to process"}  # fmt: skip


async def process_recording(ctx: JobContext, recording_id: int) -> dict[str, Any]:
    """Cut the recording into chunks and store them; the same outcome however often it runs."""
    resources = ctx.resources
    existing = await recordings_db.get(resources.db, recording_id)
    if existing is None:
        return _gone(recording_id, "no longer exists")
    if existing.status == "processed":
        return result_of(existing)
    if await _processed_elsewhere(ctx, existing):
        return _gone(recording_id, f"is being processed by job {existing.job_id}")
    recording = await processing_db.start(resources.db, recording_id, ctx.job_id, existing.job_id)
    if recording is None:  # processed, deleted or taken by another job since the read above
        return await process_recording(ctx, recording_id)
    storage = Storage(resources.settings.storage_root)
    generation = generation_of(ctx.job_id, ctx.try_number)
    out_dir = storage.generation_dir(recording_id, generation)
    try:
        saved = await _run(ctx, recording, storage, generation)
    except BaseException as exc:
        shutil.rmtree(out_dir, ignore_errors=True)  # a few files; no await on a cancelled path
        return await _failed(ctx, recording, exc)
    if saved is None:  # deleted while it was processed: keep nothing of it
        shutil.rmtree(storage.recording_chunks_dir(recording_id), ignore_errors=True)
        return _gone(recording_id, "was deleted while it was processed")
    storage.remove_other_generations(recording_id, keep=generation)
    await ctx.progress(3, 3, stage="saving", chunks=saved.chunk_count)
    return result_of(saved)


async def _processed_elsewhere(ctx: JobContext, recording: Recording) -> bool:
    """Whether another job, still queued or running, processes the recording (two runs at once
    would remove each other's chunk folders); a dead one's recording is taken over."""
    other = recording.job_id
    if recording.status != "processing" or other is None or other == ctx.job_id:
        return False
    status = await live_status(ctx.resources, other, ctx.queue)
    return status is not None and status not in TERMINAL


async def _run(
    ctx: JobContext, recording: Recording, storage: Storage, generation: str
) -> Recording | None:
    """The three stages; the recording as saved, or None if it was deleted meanwhile."""
    settings = ctx.resources.settings
    path = storage.recording_path(recording.storage_name)
    out_dir = storage.generation_dir(recording.id, generation)
    await ctx.progress(0, 3, stage="analysing")
    analysis: RecordingAnalysis = await ctx.run_cpu(
        analyse_recording, path, chunking_config(settings)
    )
    await ctx.progress(1, 3, stage="exporting", chunks=len(analysis.chunks))
    shutil.rmtree(out_dir, ignore_errors=True)  # the same try run again starts from nothing
    names: list[str] = await ctx.run_cpu(export_recording, path, analysis, out_dir)
    await ctx.progress(2, 3, stage="saving", chunks=len(names))
    chunks = [
        processing_db.NewChunk(
            position=chunk.position, start_s=chunk.start_s, end_s=chunk.end_s,
            storage_name=Storage.chunk_name(recording.id, generation, name),
            forced_cut=chunk.forced_cut, quality=chunk.quality,
        )
        for chunk, name in zip(analysis.chunks, names, strict=True)
    ]  # fmt: skip
    audio = processing_db.ProcessedAudio(
        duration_s=analysis.duration_s, sample_rate_hz=analysis.sample_rate_hz,
        channels=analysis.channels, detector=analysis.detector,
        quality=analysis.quality,
        quality_flags=quality_flags(analysis.quality, quality_thresholds(settings)),
        waveform=analysis.waveform.encoded(),
    )  # fmt: skip
    async with ctx.resources.db.acquire() as conn:
        return await processing_db.save_chunks(conn, recording.id, chunks, audio)


async def _failed(ctx: JobContext, recording: Recording, exc: BaseException) -> dict[str, Any]:
    """Note the failure on the recording and raise it for the engine (or say it was deleted)."""
    db = ctx.resources.db
    if isinstance(exc, BadAudioError):
        message = _readable(str(exc), recording)
        await processing_db.record_failure(db, recording.id, message, "permanent", final=True)
        raise _same_kind(exc, message) from exc
    if not isinstance(exc, Exception):  # cancelled or the hard limit: no time for the database
        raise exc
    try:
        if await recordings_db.get(db, recording.id) is None:
            return _gone(recording.id, "was deleted while it was processed")
        if isinstance(exc, RETRY_ON):
            final = ctx.retries_left == 0
            message = _readable(str(exc), recording)
            await processing_db.record_failure(db, recording.id, message, "transient", final)
            if isinstance(exc, TransientAudioError):
                raise _same_kind(exc, message) from exc
        else:  # cancelled by an admin, out of time, or a bug: not retried by itself
            reason = "processing was cancelled" if isinstance(exc, JobCancelled) else (
                str(exc) if isinstance(exc, SoftTimeLimitExceeded)
                else f"internal error: {type(exc).__name__}: {exc}"
            )  # fmt: skip
            await processing_db.record_failure(db, recording.id, reason, None, final=True)
    except UNAVAILABLE as db_error:  # the database is away too: the job's error says why
        log.warning("recording %d: cannot record its failure: %r", recording.id, db_error)
    raise exc


def _readable(message: str, recording: Recording) -> str:
    """The error as its owner knows the file: by the name they uploaded, not the stored one."""
    return message.replace(recording.storage_name, recording.original_name)


def _same_kind(exc: AudioError, message: str) -> BaseException:
    try:
        return type(exc)(message)
    except TypeError:  # a subclass with a constructor of its own
        return exc


async def enqueue_batch(
    ctx: JobContext, recording_ids: list[int], batch_id: str | None = None
) -> dict[str, Any]:
    """One processing job per recording under one batch (opened here unless given); the job ids
    follow from the batch and recording, so running this again queues nothing twice."""
    resources = ctx.resources
    ids = list(dict.fromkeys(recording_ids))
    if not ids:
        raise InvalidInput("a batch needs at least one recording id")
    owners = await processing_db.owners_of(resources.db, ids)
    if batch_id is None:
        batch_id = await _batch_of_job(ctx, len(ids), set(owners.values()))
    process = get_task(PROCESS_TASK)
    specs = [
        process.spec(resources, {"recording_id": rid}, job_id=f"{batch_id}:{rid}",
                     owner_id=owners.get(rid), batch_id=batch_id)
        for rid in ids
    ]  # fmt: skip
    accepted = await broker_for(resources).enqueue(specs)
    for rid, spec, new in zip(ids, specs, accepted, strict=True):
        if new and rid in owners:
            await processing_db.queued_as(resources.db, rid, spec.job_id)
    return {
        "batch_id": batch_id,
        "job_ids": {str(rid): spec.job_id for rid, spec in zip(ids, specs, strict=True)},
        "enqueued": sum(accepted),
        "already_enqueued": len(ids) - sum(accepted),
    }


async def _batch_of_job(ctx: JobContext, total: int, owners: set[int | None]) -> str:
    """The batch this job opened (its id is the job's), opened now if this is the first try."""
    resources = ctx.resources
    batch_id = ctx.job_id
    if await batches_db.summary(resources.db, batch_id) is None:
        owner_id = next(iter(owners)) if len(owners) == 1 else None  # mixed owners: the admins
        await open_batch(
            resources, f"processing of {total} recordings", total, owner_id, batch_id=batch_id
        )
    return batch_id
