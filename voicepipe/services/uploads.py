"""Receiving a recording: streamed to a temporary file, hashed and sniffed while it arrives,
refused (and deleted) if too large, empty, not audio or a duplicate, else kept and queued.

The web upload, the batch upload and `voicepipe process` all store files through `store_upload`.

If the enqueue fails after the recording row exists (Redis down), the row stays `uploaded` and
the caller gets the error (a 503). The row already names its job (`upload_job_id`, derived from
the recording id, set before the enqueue), so recovery is the caller doing what a 503 asks: the
same upload again finds its recording by sha256 and, since that recording is still `uploaded`
under the upload job id, enqueues that job now instead of answering 409. The derived id makes
this idempotent: when the first enqueue did reach Redis, or two retries race, the broker refuses
the second job with the same id and exactly one job processes the recording. The reprocess cron
is no help here: it takes `failed` recordings only, and an `uploaded` one has not failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from voicepipe.audio.sniff import EXTENSIONS, SNIFF_BYTES, sniff_format
from voicepipe.audio.storage import Storage
from voicepipe.db import recordings as recordings_db
from voicepipe.domain.recordings import Recording
from voicepipe.engine.registry import Task, get_task
from voicepipe.errors import (
    ConfigError,
    Conflict,
    InvalidInput,
    NotFound,
    TooLarge,
    UnsupportedMedia,
)
from voicepipe.resources import Resources
from voicepipe.services.processing import PROCESS_TASK
from voicepipe.settings import Settings

log = logging.getLogger(__name__)

WRITE_BLOCK_BYTES = 1 << 20  # received bytes are written (and hashed) off the event loop per MiB
_SIGNATURES = (
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a zip archive"), (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"), (b"\x1f\x8b", "gzip data"),
    (b"\x7fELF", "a program"),
)  # fmt: skip


@dataclass(frozen=True)
class StoredUpload:
    recording: Recording
    job_id: str | None  # the processing job; None when stored with enqueue=False


@dataclass(frozen=True)
class _Received:
    size_bytes: int
    sha256: str
    fmt: str


def max_upload_bytes(settings: Settings) -> int:
    return settings.max_upload_mb * 1024 * 1024


def refuse_oversized(
    settings: Settings, declared_bytes: int | None, overhead_bytes: int = 0
) -> None:
    """TooLarge before anything is read, when the declared length is over the limit (plus the
    `overhead_bytes` a form's boundaries and other fields may add)."""
    if declared_bytes is not None and declared_bytes > max_upload_bytes(settings) + overhead_bytes:
        raise TooLarge(f"the upload is larger than the limit of {settings.max_upload_mb} MB")


def upload_job_id(recording_id: int) -> str:
    """The id of the job an upload queues for its recording (see the module docstring)."""
    return f"recording-{int(recording_id)}-upload"


async def store_upload(
    resources: Resources,
    owner_id: int,
    chunks: AsyncIterator[bytes],
    original_name: str,
    title: str | None,
    content_type: str | None,
    *,
    declared_size: int | None = None,
    enqueue: bool = True,
) -> StoredUpload:
    """Receive one file from `chunks` and store it as `owner_id`'s recording; with `enqueue`, its
    processing job is queued. Nothing stays on disk when it is refused or the stream breaks."""
    settings = resources.settings
    refuse_oversized(settings, declared_size)
    process = _process_task() if enqueue else None
    storage = Storage(settings.storage_root)
    temp = await asyncio.to_thread(storage.new_upload_path)
    try:
        received = await _receive(chunks, temp, max_upload_bytes(settings), settings.max_upload_mb)
        existing = await recordings_db.by_sha256(resources.db, owner_id, received.sha256)
        if existing is not None:
            return await _duplicate(resources, existing, process)
        recording = await _keep(
            resources, storage, temp, received, owner_id, original_name, title, content_type
        )
    finally:
        await asyncio.to_thread(temp.unlink, missing_ok=True)  # gone already once kept
    if process is None:
        return StoredUpload(recording, None)
    job_id = upload_job_id(recording.id)
    await recordings_db.set_job(resources.db, recording.id, job_id)  # before: see the docstring
    await _enqueue(resources, process, recording, job_id)
    return StoredUpload(recording.model_copy(update={"job_id": job_id}), job_id)


def _process_task() -> Task:
    try:
        return get_task(PROCESS_TASK)
    except NotFound:
        raise ConfigError(
            f"task {PROCESS_TASK} is not registered (import voicepipe.tasks)"
        ) from None


async def _receive(
    chunks: AsyncIterator[bytes], temp: Path, limit_bytes: int, limit_mb: int
) -> _Received:
    """Write the stream to `temp`, hashing it; refuse it as soon as it is known to be unusable."""
    hasher = hashlib.sha256()
    head = b""
    fmt: str | None = None
    size = 0
    pending: list[bytes] = []
    pending_bytes = 0
    file = await asyncio.to_thread(temp.open, "xb")
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit_bytes:  # no length was declared, or it was not the truth
                raise TooLarge(f"the upload is larger than the limit of {limit_mb} MB")
            if fmt is None and len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
                if len(head) == SNIFF_BYTES:
                    fmt = _sniffed(head)
            pending.append(chunk)
            pending_bytes += len(chunk)
            if pending_bytes >= WRITE_BLOCK_BYTES:
                await asyncio.to_thread(_write, file, hasher, b"".join(pending))
                pending, pending_bytes = [], 0
        if size == 0:
            raise InvalidInput("the file is empty")
        if pending:
            await asyncio.to_thread(_write, file, hasher, b"".join(pending))
    finally:
        await asyncio.to_thread(file.close)
    return _Received(size, hasher.hexdigest(), fmt or _sniffed(head))


def _write(file: BinaryIO, hasher: hashlib._Hash, block: bytes) -> None:
    file.write(block)
    hasher.update(block)


def _sniffed(head: bytes) -> str:
    fmt = sniff_format(head)
    if fmt is None:
        taken = ", ".join(sorted(EXTENSIONS))
        raise UnsupportedMedia(
            f"not an audio file we take (it looks like {_looks_like(head)}); we take {taken}"
        )
    return fmt


def _looks_like(head: bytes) -> str:
    """What a refused file seems to be, for the 415 message."""
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return what
    sample = head[:1024]
    for cut in range(4):  # the sample may end inside a multi-byte character
        try:
            text = sample[: len(sample) - cut].decode()
        except UnicodeDecodeError:
            continue
        if text.lstrip().startswith("<"):
            return "HTML or XML"
        if text.lstrip()[:1] in ("{", "["):
            return "JSON"
        if all(c.isprintable() or c in "\r\n\t" for c in text):
            return "text"
        break
    return "binary data of no format we know"


async def _keep(
    resources: Resources,
    storage: Storage,
    temp: Path,
    received: _Received,
    owner_id: int,
    original_name: str,
    title: str | None,
    content_type: str | None,
) -> Recording:
    name = storage.new_recording_name(EXTENSIONS[received.fmt])
    path = await asyncio.to_thread(storage.keep_upload, temp, name)
    try:
        recording = await recordings_db.create(
            resources.db, owner_id=owner_id, title=title, original_name=original_name[:500],
            storage_name=name, content_type=content_type, fmt=received.fmt,
            size_bytes=received.size_bytes, sha256=received.sha256,
        )  # fmt: skip
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    if recording is None:  # the same file arrived twice at once, and the other one won
        await asyncio.to_thread(path.unlink, missing_ok=True)
        existing = await recordings_db.by_sha256(resources.db, owner_id, received.sha256)
        raise _conflict(existing.id if existing else None)
    return recording


async def _duplicate(
    resources: Resources, existing: Recording, process: Task | None
) -> StoredUpload:
    """409 with the existing id; unless the recording's upload job never made it to the queue
    (it is still `uploaded` under the upload job id): then that job is queued now."""
    job_id = upload_job_id(existing.id)
    stalled = existing.status == "uploaded" and existing.job_id == job_id
    if process is not None and stalled and await _enqueue(resources, process, existing, job_id):
        log.info("queued the missing upload job of recording %s", existing.id)
        return StoredUpload(existing, job_id)
    raise _conflict(existing.id)


def _conflict(recording_id: int | None) -> Conflict:
    return Conflict(
        f"you uploaded this file already, as recording {recording_id}", recording_id=recording_id
    )


async def _enqueue(resources: Resources, process: Task, recording: Recording, job_id: str) -> bool:
    """Queue the processing job; False if a job with its id exists already (queued before)."""
    try:
        await process.enqueue(
            resources, job_id=job_id, owner_id=recording.owner_id, recording_id=recording.id
        )
    except InvalidInput:  # the broker's "a job with id … already exists"
        return False
    return True
