"""Recordings as their owners (and admins) see them: listed, read, deleted, their chunks; batch
uploads and the batches they open.

`viewer` is the owner whose recordings the caller may see, None for an admin (everyone's); a
recording the viewer may not see is NotFound, as if it did not exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel

from voicepipe.audio.storage import Storage
from voicepipe.audio.waveform import Waveform
from voicepipe.db import recordings as recordings_db
from voicepipe.db.recordings import BatchJob, ChunkSpan, ChunkTranscription
from voicepipe.db.users import UserRow
from voicepipe.domain.batches import BatchSummary
from voicepipe.domain.job_info import decode_cursor, encode_cursor
from voicepipe.domain.recordings import Chunk, Recording
from voicepipe.engine.registry import get_task
from voicepipe.errors import Conflict, InvalidInput, NotFound, TooLarge, VoicepipeError
from voicepipe.resources import Resources
from voicepipe.services import batches, control, crowd, uploads
from voicepipe.services.uploads import StoredUpload

log = logging.getLogger(__name__)
T = TypeVar("T")
BATCH_TASK = "batch_process_recordings"


class RecordingFilters(BaseModel):
    statuses: list[str] = []
    search: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class Deleted:
    recording_id: int
    chunks: int
    transcriptions: int
    job_id: str | None
    job_outcome: str | None  # what became of its processing job: cancelled, stopping, or None


@dataclass(frozen=True)
class BatchView:
    summary: BatchSummary
    jobs: list[BatchJob]


async def list_recordings(
    resources: Resources,
    viewer: int | None,
    filters: RecordingFilters,
    limit: int,
    cursor: str | None,
) -> Page[Recording]:
    """Newest first, `limit` at a time; `cursor` is the previous page's `next_cursor`."""
    after = _after(cursor) if cursor else None
    rows = await recordings_db.list_recordings(
        resources.db, owner_id=viewer, statuses=filters.statuses, search=filters.search,
        created_after=filters.created_after, created_before=filters.created_before,
        limit=limit + 1, after=after,
    )  # fmt: skip
    items = rows[:limit]
    more = len(rows) > limit
    return Page(items, encode_cursor(items[-1].created_at, str(items[-1].id)) if more else None)


def _after(cursor: str) -> tuple[datetime, int]:
    at, key = decode_cursor(cursor)
    if not key.isdigit():
        raise InvalidInput("the page cursor is not one this server gave out")
    return at, int(key)


async def get_recording(resources: Resources, viewer: int | None, recording_id: int) -> Recording:
    recording = await recordings_db.get(resources.db, recording_id)
    if recording is None or (viewer is not None and recording.owner_id != viewer):
        raise NotFound(f"no recording with id {recording_id}")
    return recording


async def list_chunks(
    resources: Resources, viewer: int | None, recording_id: int, limit: int, cursor: str | None
) -> Page[Chunk]:
    """A recording's chunks in order; the cursor is the last position of the previous page."""
    await get_recording(resources, viewer, recording_id)
    return await _chunk_page(resources, recording_id, limit, cursor)


async def _chunk_page(
    resources: Resources, recording_id: int, limit: int, cursor: str | None
) -> Page[Chunk]:
    if cursor is not None and not (cursor.isdigit() and len(cursor) < 10):
        raise InvalidInput("the page cursor is not one this server gave out")
    after = int(cursor) if cursor is not None else -1
    rows = await recordings_db.chunks_of(resources.db, recording_id, limit + 1, after)
    items = rows[:limit]
    return Page(items, str(items[-1].position) if len(rows) > limit else None)


@dataclass(frozen=True)
class RecordingDetail:
    """What a recording's page shows: the recording, its waveform (None if it was processed
    before waveforms were kept), where its first chunks lie, one page of chunks in full and the
    first transcriptions of each."""

    recording: Recording
    waveform: Waveform | None
    spans: list[ChunkSpan]
    chunks: Page[Chunk]
    transcriptions: dict[int, list[ChunkTranscription]]  # by chunk id


async def recording_detail(
    resources: Resources,
    viewer: int | None,
    recording_id: int,
    *,
    chunk_limit: int,
    chunk_cursor: str | None,
    max_spans: int,
    per_chunk: int,
) -> RecordingDetail:
    """Every part read at once, each bounded: `max_spans` chunk spans, `chunk_limit` chunks from
    `chunk_cursor` (list_chunks' cursor), `per_chunk` transcriptions of each of those."""
    recording = await get_recording(resources, viewer, recording_id)
    packed, spans, chunks = await asyncio.gather(
        recordings_db.waveform_of(resources.db, recording_id),
        recordings_db.chunk_spans(resources.db, recording_id, max_spans),
        _chunk_page(resources, recording_id, chunk_limit, chunk_cursor),
    )
    written = await recordings_db.transcriptions_of(
        resources.db, [c.id for c in chunks.items], per_chunk
    )
    by_chunk: dict[int, list[ChunkTranscription]] = {}
    for transcription in written:
        by_chunk.setdefault(transcription.chunk_id, []).append(transcription)
    waveform = Waveform.decoded(packed) if packed else None
    return RecordingDetail(recording, waveform, spans, chunks, by_chunk)


async def chunk_audio_path(
    resources: Resources, user: UserRow, recording_id: int, chunk_id: int
) -> Path:
    """The FLAC of one chunk of a recording `user` may see (the crowd's chunk audio, narrowed
    to the recording's owner and admins)."""
    await get_recording(resources, None if user.role == "admin" else user.id, recording_id)
    chunk = await crowd.visible_chunk(resources, user, chunk_id)
    if chunk.recording_id != recording_id:
        raise NotFound(f"no chunk with id {chunk_id} in recording {recording_id}")
    return crowd.audio_path_of(resources, chunk)


async def owner_emails(resources: Resources, recordings: list[Recording]) -> dict[int, str]:
    ids = sorted({r.owner_id for r in recordings if r.owner_id is not None})
    return await recordings_db.emails_of(resources.db, ids) if ids else {}


async def delete_recording(resources: Resources, viewer: int | None, recording_id: int) -> Deleted:
    """Cancel its processing job if queued or running, then delete its files and rows."""
    recording = await get_recording(resources, viewer, recording_id)
    outcome = await _stop_job(resources, recording.job_id)
    async with resources.db.acquire() as conn, conn.transaction():
        rows = await recordings_db.delete(conn, recording_id)
    if rows is None:
        raise NotFound(f"no recording with id {recording_id}")  # deleted meanwhile
    # After the rows: a job that outlived its cancel finds no recording to write chunks for, and
    # any chunk file it still writes is an orphan that cleanup_orphaned_chunks removes.
    storage = Storage(resources.settings.storage_root)
    await asyncio.to_thread(storage.remove_recording_files, recording.storage_name, recording_id)
    log.info("deleted recording %s (%s chunks)", recording_id, rows.chunks)
    return Deleted(recording_id, rows.chunks, rows.transcriptions, recording.job_id, outcome)


async def _stop_job(resources: Resources, job_id: str | None) -> str | None:
    """Cancel the job if it is queued or running; None if there is none to stop (finished)."""
    if job_id is None:
        return None
    try:
        return (await control.cancel(resources, job_id)).outcome
    except (Conflict, NotFound):  # finished already, or never recorded: nothing to stop
        return None


async def set_title(resources: Resources, recording_id: int, title: str) -> None:
    await recordings_db.set_title(resources.db, recording_id, title)


@dataclass(frozen=True)
class IncomingFile:
    name: str
    content_type: str | None
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class BatchUpload:
    batch_id: str
    job_id: str  # the batch_process_recordings job
    stored: list[StoredUpload]
    refused: list[tuple[str, VoicepipeError]]  # file name, and why


async def upload_batch(
    resources: Resources, owner_id: int, files: AsyncIterator[IncomingFile], max_files: int
) -> BatchUpload:
    """Store every file (none queued alone), open a batch of those taken and queue the job that
    queues one processing job per recording under it. The batch is opened here, not by that job,
    so the caller can follow it (GET /api/batches/{id}) at once. Files that are refused are
    reported; if every file is, or the request breaks, nothing stays stored."""
    stored: list[StoredUpload] = []
    refused: list[tuple[str, VoicepipeError]] = []
    try:
        async for file in files:
            if len(stored) + len(refused) >= max_files:
                refused.append((file.name, TooLarge(f"more than {max_files} files in one batch")))
                continue
            try:
                stored.append(await uploads.store_upload(
                    resources, owner_id, file.chunks, file.name, None, file.content_type,
                    enqueue=False,
                ))  # fmt: skip
            except (InvalidInput, TooLarge, Conflict) as exc:
                refused.append((file.name, exc))
        if not stored:
            reasons = "; ".join(f"{name}: {exc}" for name, exc in refused) or "the form has no file"
            raise InvalidInput(f"no file was taken: {reasons}")
        ids = [s.recording.id for s in stored]
        batch_id, job_id = await _process_batch(resources, owner_id, ids)
    except BaseException:
        # nothing was queued for them: a client that tries again finds no duplicates in its way
        await _discard(resources, [s.recording for s in stored])
        raise
    return BatchUpload(batch_id, job_id, stored, refused)


async def _process_batch(
    resources: Resources, owner_id: int, recording_ids: list[int]
) -> tuple[str, str]:
    name = f"{len(recording_ids)} recording{'s' * (len(recording_ids) != 1)}"
    batch_id = await batches.open_batch(resources, name, len(recording_ids), owner_id=owner_id)
    job = await get_task(BATCH_TASK).enqueue(
        resources, recording_ids=recording_ids, batch=batch_id, owner_id=owner_id
    )
    return batch_id, job.job_id


async def _discard(resources: Resources, recordings: list[Recording]) -> None:
    """Delete recordings stored for a request that then failed (no job was queued for them);
    what cannot be deleted now (the database is down) is logged and left."""
    storage = Storage(resources.settings.storage_root)
    for recording in recordings:
        try:
            async with resources.db.acquire() as conn, conn.transaction():
                await recordings_db.delete(conn, recording.id)
            await asyncio.to_thread(
                storage.remove_recording_files, recording.storage_name, recording.id
            )
        except Exception:
            log.exception("could not discard recording %s", recording.id)


async def get_batch(resources: Resources, viewer: int | None, batch_id: str) -> BatchView:
    """A batch's counts and its jobs (as far as they are recorded yet); owner or admin only."""
    summary = await batches.get_batch(resources, batch_id)
    if viewer is not None and summary.owner_id != viewer:
        raise NotFound(f"no batch with id {batch_id}")
    return BatchView(summary, await recordings_db.batch_jobs(resources.db, batch_id))
