"""SQL for recordings: created on upload, read, listed and deleted (processing: db.processing)."""

from __future__ import annotations

from typing import Any

import asyncpg

from voicepipe.db.jobs import Conn
from voicepipe.domain.recordings import Recording

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
