"""The crowd's work: the next chunk to transcribe, chunk access, and submitting transcriptions."""

from __future__ import annotations

import logging
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from voicepipe.audio.storage import Storage
from voicepipe.db import crowd as crowd_db
from voicepipe.db.crowd import ChunkAccess
from voicepipe.db.users import UserRow
from voicepipe.engine.registry import get_task
from voicepipe.errors import Conflict, NotFound, PermissionDenied, Unprocessable
from voicepipe.resources import Resources

log = logging.getLogger(__name__)

CONSENSUS_TASK = "calculate_consensus_for_chunks"  # voicepipe.tasks.consensus
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}
PICK_ATTEMPTS = 20  # picks per status while callers keep taking the chunk found first


def _may_see(chunk: ChunkAccess, user: UserRow) -> bool:
    """Owner, admins, and any contributor once the recording is processed (they may
    transcribe it)."""
    return user.role == "admin" or chunk.owner_id == user.id or chunk.recording_processed


async def visible_chunk(resources: Resources, user: UserRow, chunk_id: int) -> ChunkAccess:
    chunk = await crowd_db.get_chunk(resources.db, chunk_id)
    if chunk is None or not _may_see(chunk, user):
        raise NotFound(f"no chunk with id {chunk_id}")
    return chunk


async def chunk_audio_path(resources: Resources, user: UserRow, chunk_id: int) -> Path:
    return audio_path_of(resources, await visible_chunk(resources, user, chunk_id))


def audio_path_of(resources: Resources, chunk: ChunkAccess) -> Path:
    """Where a chunk's FLAC is; NotFound while its recording is reprocessed."""
    path = Storage(resources.settings.storage_root).chunk_path(chunk.storage_name)
    if not path.is_file():
        raise NotFound(
            f"the audio of chunk {chunk.id} is gone (the recording is being reprocessed)"
        )
    return path


async def next_chunk(resources: Resources, user: UserRow) -> ChunkAccess:
    """Claim the chunk `user` should transcribe next; NotFound when none needs them now.

    A contributor holds one claim: asking again releases the chunk served before and serves
    another one (so a chunk can be skipped), or the same one if nothing else is open.
    """
    settings = resources.settings
    minimum = settings.consensus_min_transcriptions
    async with resources.db.acquire() as conn, conn.transaction():
        released = await crowd_db.release_claims(conn, user.id)
        picked = await _pick(conn, user.id, released, minimum)
        if picked is None and released:  # nothing else: the one served before, again
            picked = await _pick(conn, user.id, [], minimum)
        if picked is None:
            raise NotFound("no chunk needs transcribing right now")
        await crowd_db.claim(conn, picked, user.id, settings.chunk_claim_s)
        chunk = await crowd_db.get_chunk(conn, picked)
    assert chunk is not None  # locked by _pick until the transaction ends
    return chunk


async def _pick(
    conn: asyncpg.Connection, user_id: int, exclude: list[int], minimum: int
) -> int | None:
    """The first open chunk for the user, needs_more ones first, locked for claiming."""
    for status in crowd_db.OPEN_STATUSES:
        skipped = list(exclude)
        for _ in range(PICK_ATTEMPTS):
            chunk_id = await crowd_db.pick_open_chunk(conn, user_id, status, skipped, minimum)
            if chunk_id is None:
                break
            if await crowd_db.lock_if_still_open(conn, chunk_id, user_id, status, minimum):
                return chunk_id
            skipped.append(chunk_id)  # others claimed it meanwhile: the next one
    return None


def clean_text(text: str, max_chars: int) -> str:
    """The transcription as stored (outer whitespace trimmed), or Unprocessable saying why not."""
    stripped = text.strip()
    if not stripped:
        raise Unprocessable("body.text: a transcription cannot be empty")
    if len(stripped) > max_chars:
        raise Unprocessable(f"body.text: longer than {max_chars} characters")
    for char in stripped:
        kind = unicodedata.category(char)
        if (kind == "Cc" and char not in _ALLOWED_CONTROLS) or kind == "Cs":
            raise Unprocessable(f"body.text: contains the control character U+{ord(char):04X}")
    return stripped


@dataclass(frozen=True)
class Submission:
    transcription_id: int
    chunk_id: int
    transcription_count: int
    consensus_job_id: str | None  # the consensus job this submission queued, if it queued one


async def submit_transcription(
    resources: Resources, user: UserRow, chunk_id: int, text: str
) -> Submission:
    settings = resources.settings
    chunk = await visible_chunk(resources, user, chunk_id)
    if chunk.owner_id == user.id:
        raise PermissionDenied("you cannot transcribe a chunk of your own recording")
    if not chunk.recording_processed:
        raise NotFound(f"no chunk with id {chunk_id}")  # an admin's view of a reprocessing one
    cleaned = clean_text(text, settings.transcription_max_chars)
    job_id = f"consensus-{chunk_id}-{uuid.uuid4().hex[:16]}"
    async with resources.db.acquire() as conn, conn.transaction():
        added = await crowd_db.add_transcription(
            conn, chunk_id, user.id, cleaned, settings.consensus_min_transcriptions, job_id
        )
    if added is None:
        existing = await crowd_db.has_transcribed(resources.db, chunk_id, user.id)
        raise Conflict(
            "you have transcribed this chunk already", transcription_id=existing, chunk_id=chunk_id
        )
    if not added.queue_consensus:
        return Submission(added.transcription_id, chunk_id, added.transcription_count, None)
    # Enqueued after the commit, so the job surely reads this transcription. Crash windows:
    # (1) between the commit and the enqueue the marker names a job that never was: later
    # transcriptions join it until it is CONSENSUS_MARKER_STALE_S old, then one replaces it,
    # and recalculate_all_consensus (every 6 h) recomputes the chunk in any case; (2) if the
    # enqueue itself fails (Redis down) the marker is taken back at once, so the next
    # transcription queues the job; the transcription stays stored either way. (3) A worker
    # that dies running the job: the engine runs it again under the same id, and it is
    # idempotent (its marker is gone already; it recomputes from what is stored).
    try:
        await get_task(CONSENSUS_TASK).enqueue(resources, job_id=job_id, chunk_ids=[chunk_id])
    except Exception:
        log.exception("could not queue the consensus of chunk %s", chunk_id)
        await crowd_db.clear_marker(resources.db, [chunk_id], job_id)
        return Submission(added.transcription_id, chunk_id, added.transcription_count, None)
    return Submission(added.transcription_id, chunk_id, added.transcription_count, job_id)
