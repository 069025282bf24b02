"""Handlers of the recordings API: uploads (multipart, streamed), listing, reading, deleting,
chunks, batch uploads and batches. A caller sees only their own recordings; admins see all."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from voicepipe import errors
from voicepipe.services import recordings, uploads
from voicepipe.services.recordings import IncomingFile, RecordingFilters
from voicepipe.services.uploads import StoredUpload
from voicepipe.web.api import Call
from voicepipe.web.middleware import status_for
from voicepipe.web.models_recordings import (
    BatchAccepted,
    BatchJobOut,
    BatchOut,
    RecordingChunk,
    RecordingChunkPage,
    RecordingChunkQuery,
    RecordingDeleted,
    RecordingListQuery,
    RecordingOut,
    RecordingPage,
    RejectedFile,
    UploadAccepted,
)

log = logging.getLogger(__name__)

FORM_OVERHEAD_BYTES = 64 * 1024  # boundaries, part headers and a title around the file
MAX_BATCH_FILES = 100
MAX_TITLE_BYTES = 2000
READ_BYTES = 256 * 1024
# what reading a request body raises when the client sends a broken one or goes away
BROKEN_BODY = (HttpProcessingError, ConnectionError, ValueError)


def _viewer(call: Call) -> int | None:
    return None if call.is_admin else call.caller.id


def _id(call: Call, name: str = "recording_id") -> int:
    text = call.path[name]
    if not text.isdigit() or len(text) > 18:
        raise errors.NotFound(f"no recording with id {text}")
    return int(text)


async def upload_recording(call: Call) -> UploadAccepted:
    request = _request(call)
    uploads.refuse_oversized(call.resources.settings, request.content_length, FORM_OVERHEAD_BYTES)
    title: str | None = None
    stored: StoredUpload | None = None
    async for part in _parts(request):
        if part.name == "title":
            title = await _text(part)
            if stored is not None:  # a title sent after the file
                await recordings.set_title(call.resources, stored.recording.id, title)
        elif stored is not None:
            continue  # the recording is stored and queued: only a late title still counts
        elif part.name == "file":
            stored = await _store(call, part, title, enqueue=True)
        else:
            raise errors.InvalidInput(
                f"unexpected form field {part.name!r}: send `file` and `title`"
            )
    if stored is None:
        raise errors.InvalidInput("the form has no `file` field")
    return _accepted(stored)


async def upload_batch(call: Call) -> BatchAccepted:
    request = _request(call)
    limit = uploads.max_upload_bytes(call.resources.settings) * MAX_BATCH_FILES
    uploads.refuse_oversized(call.resources.settings, request.content_length, limit)
    done = await recordings.upload_batch(
        call.resources, call.caller.id, _files(request), MAX_BATCH_FILES
    )
    return BatchAccepted(
        batch_id=done.batch_id, job_id=done.job_id, recordings=[_accepted(s) for s in done.stored],
        rejected=[_rejected(name, exc) for name, exc in done.refused],
    )  # fmt: skip


async def _files(request: web.Request) -> AsyncIterator[IncomingFile]:
    async for part in _parts(request):
        if part.name != "file":
            raise errors.InvalidInput(f"unexpected form field {part.name!r}: send `file` fields")
        yield IncomingFile(
            _file_name(part.filename), part.headers.get("Content-Type"), _chunks(part)
        )


def _rejected(name: str, exc: errors.VoicepipeError) -> RejectedFile:
    details = exc.details if isinstance(exc, errors.Conflict) else {}
    recording_id = details.get("recording_id")
    return RejectedFile(
        file=name, status=status_for(exc), reason=str(exc),
        recording_id=recording_id if isinstance(recording_id, int) else None,
    )  # fmt: skip


def _accepted(stored: StoredUpload) -> UploadAccepted:
    recording = stored.recording
    return UploadAccepted(recording_id=recording.id, job_id=stored.job_id, status=recording.status)


def _request(call: Call) -> web.Request:
    assert call.request is not None
    if call.request.content_type != "multipart/form-data":
        raise errors.UnsupportedMedia(
            "send the recording as multipart/form-data with a `file` field"
        )
    return call.request


async def _parts(request: web.Request) -> AsyncIterator[BodyPartReader]:
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, MultipartReader):
                raise errors.InvalidInput("a form field holds a nested multipart body")
            yield part
    except BROKEN_BODY as exc:
        raise _broken(exc) from None


async def _text(part: BodyPartReader) -> str:
    raw = b""
    while chunk := await part.read_chunk(READ_BYTES):
        raw += chunk
        if len(raw) > MAX_TITLE_BYTES:
            raise errors.InvalidInput(f"the title is longer than {MAX_TITLE_BYTES} bytes")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise errors.InvalidInput("the title is not UTF-8") from None
    if "\x00" in text:
        raise errors.InvalidInput("the title holds a NUL character")
    return text.strip()


async def _store(
    call: Call, part: BodyPartReader, title: str | None, enqueue: bool
) -> StoredUpload:
    return await uploads.store_upload(
        call.resources, call.caller.id, _chunks(part), _file_name(part.filename), title or None,
        part.headers.get("Content-Type"), enqueue=enqueue,
    )  # fmt: skip


def _file_name(name: str | None) -> str:
    """The client's name for the file, kept only to show it back (never part of a path)."""
    cleaned = "".join(c for c in (name or "") if c.isprintable()).strip()
    return cleaned[:500] or "upload"


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    try:
        while chunk := await part.read_chunk(READ_BYTES):
            yield chunk
    except BROKEN_BODY as exc:
        raise _broken(exc) from None


def _broken(exc: BaseException) -> errors.InvalidInput:
    log.info("a request body broke off: %r", exc)
    return errors.InvalidInput("the request body is malformed or ended early")


async def list_recordings(call: Call) -> RecordingPage:
    query: RecordingListQuery = call.query
    filters = RecordingFilters(
        statuses=list(query.status), search=query.q,
        created_after=query.created_after, created_before=query.created_before,
    )  # fmt: skip
    page = await recordings.list_recordings(
        call.resources, _viewer(call), filters, query.limit, query.cursor
    )
    return RecordingPage(
        items=[RecordingOut.of(r) for r in page.items], next_cursor=page.next_cursor
    )


async def get_recording(call: Call) -> RecordingOut:
    return RecordingOut.of(await recordings.get_recording(call.resources, _viewer(call), _id(call)))


async def delete_recording(call: Call) -> RecordingDeleted:
    deleted = await recordings.delete_recording(call.resources, _viewer(call), _id(call))
    return RecordingDeleted(
        recording_id=deleted.recording_id, chunks=deleted.chunks, transcriptions=deleted.transcriptions,
        job_id=deleted.job_id, job_outcome=deleted.job_outcome,
    )  # fmt: skip


async def list_chunks(call: Call) -> RecordingChunkPage:
    query: RecordingChunkQuery = call.query
    page = await recordings.list_chunks(
        call.resources, _viewer(call), _id(call), query.limit, query.cursor
    )
    return RecordingChunkPage(
        items=[RecordingChunk.of(c) for c in page.items], next_cursor=page.next_cursor
    )


async def get_batch(call: Call) -> BatchOut:
    view = await recordings.get_batch(call.resources, _viewer(call), call.path["batch_id"])
    s = view.summary
    return BatchOut(
        batch_id=s.id, name=s.name, owner_id=s.owner_id, total=s.total, done=s.finished,
        succeeded=s.succeeded, failed=s.failed, cancelled=s.cancelled, created_at=s.created_at,
        closed_at=s.closed_at,
        jobs=[BatchJobOut(job_id=j.job_id, recording_id=j.recording_id, status=j.status) for j in view.jobs],
    )  # fmt: skip
