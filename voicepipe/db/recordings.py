"""SQL for recordings: created on upload, read, listed and deleted (processing: db.processing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from voicepipe.db.job_lists import like_pattern
from voicepipe.db.jobs import Conn
from voicepipe.domain.recordings import Chunk, Recording

RECORDING_COLUMNS = """id, owner_id, title, original_name, storage_name, content_type, format,
    size_bytes, sha256, duration_s, sample_rate_hz, channels, status, error, error_kind, job_id,
    chunk_count, quality, quality_flags, detector, reprocess_count, created_at, processed_at,
    updated_at"""


def recording_of(row: asyncpg.Record | dict[str, Any]) -> Recording:
    return Recording.model_validate(dict(row))


async def create(
    conn: Conn,
    *,
    owner_id: int | None,
    title: str | None,
    original_name: str,
    storage_name: str,
    content_type: str | None,
    fmt: str,
    size_bytes: int,
    sha256: str,
) -> Recording | None:
    """The new recording, or None if its owner has a recording with this sha256 already."""
    row = await conn.fetchrow(
        f"""INSERT INTO recordings (owner_id, title, original_name, storage_name, content_type,
                                    format, size_bytes, sha256)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (owner_id, sha256) WHERE sha256 IS NOT NULL DO NOTHING
            RETURNING {RECORDING_COLUMNS}""",
        owner_id, title, original_name, storage_name, content_type, fmt, size_bytes, sha256,
    )  # fmt: skip
    return recording_of(row) if row else None


async def get(conn: Conn, recording_id: int) -> Recording | None:
    row = await conn.fetchrow(
        f"SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = $1", recording_id
    )
    return recording_of(row) if row else None


async def by_sha256(conn: Conn, owner_id: int | None, sha256: str) -> Recording | None:
    row = await conn.fetchrow(
        f"""SELECT {RECORDING_COLUMNS} FROM recordings
            WHERE owner_id IS NOT DISTINCT FROM $1 AND sha256 = $2""",
        owner_id, sha256,
    )  # fmt: skip
    return recording_of(row) if row else None


async def set_job(conn: Conn, recording_id: int, job_id: str) -> None:
    """The job that processes (or last processed) the recording."""
    await conn.execute(
        "UPDATE recordings SET job_id = $2, updated_at = now() WHERE id = $1", recording_id, job_id
    )


async def set_title(conn: Conn, recording_id: int, title: str) -> None:
    await conn.execute(
        "UPDATE recordings SET title = $2, updated_at = now() WHERE id = $1", recording_id, title
    )


async def list_recordings(
    conn: Conn,
    *,
    owner_id: int | None,
    statuses: list[str],
    search: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    limit: int,
    after: tuple[datetime, int] | None,
) -> list[Recording]:
    """Newest first by (created_at, id), after the cursor row; `owner_id` None: everyone's."""
    where: list[str] = []
    params: list[Any] = []

    def add(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    if owner_id is not None:
        where.append(f"owner_id = {add(owner_id)}")
    if statuses:
        where.append(f"status = ANY({add(statuses)}::text[])")
    if search:
        like = add(like_pattern(search))
        where.append(f"(coalesce(title, '') ILIKE {like} OR original_name ILIKE {like})")
    if created_after is not None:
        where.append(f"created_at >= {add(created_after)}")
    if created_before is not None:
        where.append(f"created_at < {add(created_before)}")
    if after is not None:
        where.append(f"(created_at, id) < ({add(after[0])}, {add(after[1])})")
    sql = f"""SELECT {RECORDING_COLUMNS} FROM recordings
              {"WHERE " + " AND ".join(where) if where else ""}
              ORDER BY created_at DESC, id DESC LIMIT {add(limit)}"""
    return [recording_of(row) for row in await conn.fetch(sql, *params)]


async def chunks_of(conn: Conn, recording_id: int, limit: int, after_position: int) -> list[Chunk]:
    """A recording's chunks in order, from the one after `after_position` (-1: the first)."""
    rows = await conn.fetch(
        """SELECT id, recording_id, position, start_s, end_s, storage_name, forced_cut, status,
                  consensus_text, confidence, transcription_count, quality, created_at, updated_at
           FROM chunks WHERE recording_id = $1 AND position > $2
           ORDER BY position LIMIT $3""",
        recording_id, after_position, limit,
    )  # fmt: skip
    return [Chunk.model_validate(dict(row)) for row in rows]


@dataclass(frozen=True)
class ChunkSpan:
    """Where a chunk lies in its recording, for the timeline of the recording's page."""

    id: int
    position: int
    start_s: float
    end_s: float
    status: str


async def chunk_spans(conn: Conn, recording_id: int, limit: int) -> list[ChunkSpan]:
    """The first `limit` chunks of a recording in order, only where they lie."""
    rows = await conn.fetch(
        """SELECT id, position, start_s, end_s, status FROM chunks WHERE recording_id = $1
           ORDER BY position LIMIT $2""",
        recording_id, limit,
    )  # fmt: skip
    return [ChunkSpan(**dict(row)) for row in rows]


@dataclass(frozen=True)
class ChunkTranscription:
    id: int
    chunk_id: int
    contributor_id: int
    contributor_email: str | None
    text: str
    flagged_spam: bool
    spam_reason: str | None
    created_at: datetime


async def transcriptions_of(
    conn: Conn, chunk_ids: list[int], per_chunk: int
) -> list[ChunkTranscription]:
    """The first `per_chunk` transcriptions of each chunk, oldest first, with who wrote them."""
    rows = await conn.fetch(
        """SELECT t.id, c.id AS chunk_id, t.contributor_id, u.email AS contributor_email, t.text,
                  t.flagged_spam, t.spam_reason, t.created_at
           FROM unnest($1::bigint[]) AS c (id)
           CROSS JOIN LATERAL (
               SELECT id, contributor_id, text, flagged_spam, spam_reason, created_at
               FROM transcriptions WHERE chunk_id = c.id ORDER BY created_at, id LIMIT $2
           ) t
           LEFT JOIN users u ON u.id = t.contributor_id
           ORDER BY c.id, t.created_at, t.id""",
        chunk_ids, per_chunk,
    )  # fmt: skip
    return [ChunkTranscription(**dict(row)) for row in rows]


async def waveform_of(conn: Conn, recording_id: int) -> bytes | None:
    """The packed waveform (audio.waveform) its last processing kept; None before 0017."""
    data: bytes | None = await conn.fetchval(
        "SELECT waveform FROM recordings WHERE id = $1", recording_id
    )
    return data


async def emails_of(conn: Conn, user_ids: list[int]) -> dict[int, str]:
    """The email of each of these users that exists (the owners of a page of recordings)."""
    rows = await conn.fetch("SELECT id, email FROM users WHERE id = ANY($1::bigint[])", user_ids)
    return {row["id"]: row["email"] for row in rows}


@dataclass(frozen=True)
class DeletedRows:
    chunks: int
    transcriptions: int


async def delete(conn: asyncpg.Connection, recording_id: int) -> DeletedRows | None:
    """Delete the recording (its chunks and their transcriptions cascade); None if it was gone.
    Call inside a transaction, so the counts are those of the rows deleted."""
    counts = await conn.fetchrow(
        """SELECT count(DISTINCT c.id) AS chunks, count(t.id) AS transcriptions
           FROM chunks c LEFT JOIN transcriptions t ON t.chunk_id = c.id
           WHERE c.recording_id = $1""",
        recording_id,
    )
    deleted = await conn.fetchval("DELETE FROM recordings WHERE id = $1 RETURNING id", recording_id)
    if deleted is None:
        return None
    assert counts is not None
    return DeletedRows(chunks=counts["chunks"], transcriptions=counts["transcriptions"])


@dataclass(frozen=True)
class BatchJob:
    job_id: str
    recording_id: int | None
    status: str


async def batch_jobs(conn: Conn, batch_id: str) -> list[BatchJob]:
    """The jobs recorded under a batch, oldest first, with the recording each one processes."""
    rows = await conn.fetch(
        """SELECT task_id, status, args->>'recording_id' AS recording_id FROM jobs
           WHERE batch_id = $1 ORDER BY created_at, task_id""",
        batch_id,
    )
    return [
        BatchJob(
            job_id=row["task_id"],
            recording_id=int(row["recording_id"])
            if (row["recording_id"] or "").isdigit()
            else None,
            status=row["status"],
        )
        for row in rows
    ]
