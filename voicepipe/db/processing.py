"""SQL for processing recordings: a run's start, its chunks saved in one go, failures, the crons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from voicepipe.db.jobs import Conn
from voicepipe.db.recordings import RECORDING_COLUMNS, recording_of
from voicepipe.domain.quality import AudioQuality
from voicepipe.domain.recordings import ErrorKind, Recording


@dataclass(frozen=True)
class NewChunk:
    position: int
    start_s: float
    end_s: float
    storage_name: str
    forced_cut: bool
    quality: AudioQuality


@dataclass(frozen=True)
class ProcessedAudio:
    """What a run found out about the recording as a whole."""

    duration_s: float
    sample_rate_hz: int
    channels: int
    detector: str
    quality: AudioQuality
    quality_flags: list[str]
    waveform: bytes | None = None  # audio.waveform.Waveform.encoded(), for the recording's page


async def start(
    conn: Conn, recording_id: int, job_id: str, seen_job_id: str | None
) -> Recording | None:
    """Mark the recording processing by `job_id` if its job is still `seen_job_id`; None if it
    is gone, processed already or was taken by another job meanwhile. The error of an earlier
    try stays until this run ends, as what the retry is about."""
    row = await conn.fetchrow(
        f"""UPDATE recordings SET status = 'processing', job_id = $2, updated_at = now()
            WHERE id = $1 AND status <> 'processed' AND job_id IS NOT DISTINCT FROM $3
            RETURNING {RECORDING_COLUMNS}""",
        recording_id, job_id, seen_job_id,
    )  # fmt: skip
    return recording_of(row) if row else None


async def save_chunks(
    conn: asyncpg.Connection, recording_id: int, chunks: Sequence[NewChunk], audio: ProcessedAudio
) -> Recording | None:
    """Replace the recording's chunk rows with `chunks` and mark it processed, all or nothing;
    None (nothing written) if the recording was deleted meanwhile."""
    async with conn.transaction():
        found = await conn.fetchval(
            "SELECT id FROM recordings WHERE id = $1 FOR UPDATE", recording_id
        )
        if found is None:
            return None
        await conn.execute("DELETE FROM chunks WHERE recording_id = $1", recording_id)
        await conn.executemany(
            """INSERT INTO chunks (recording_id, position, start_s, end_s, storage_name,
                                   forced_cut, quality)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            [
                (recording_id, c.position, c.start_s, c.end_s, c.storage_name, c.forced_cut,
                 c.quality.model_dump(mode="json"))
                for c in chunks
            ],
        )  # fmt: skip
        row = await conn.fetchrow(
            f"""UPDATE recordings SET status = 'processed', duration_s = $2, sample_rate_hz = $3,
                    channels = $4, quality = $5, quality_flags = $6, detector = $7,
                    chunk_count = $8, processed_at = now(), error = NULL, error_kind = NULL,
                    waveform = $9, updated_at = now()
                WHERE id = $1 RETURNING {RECORDING_COLUMNS}""",
            recording_id, audio.duration_s, audio.sample_rate_hz, audio.channels,
            audio.quality.model_dump(mode="json"), audio.quality_flags, audio.detector, len(chunks),
            audio.waveform,
        )  # fmt: skip
    return recording_of(row) if row else None


async def record_failure(
    conn: Conn, recording_id: int, error: str, kind: ErrorKind | None, final: bool
) -> None:
    """Note why a run failed; `final` (no try left): the recording is failed, else it stays
    processing while its job retries."""
    await conn.execute(
        """UPDATE recordings SET error = $2, error_kind = $3, updated_at = now(),
               status = CASE WHEN $4 THEN 'failed' ELSE status END
           WHERE id = $1 AND status <> 'processed'""",
        recording_id, error, kind, final,
    )  # fmt: skip


async def owners_of(conn: Conn, recording_ids: list[int]) -> dict[int, int | None]:
    """The owner of each of the recordings that exist."""
    rows = await conn.fetch(
        "SELECT id, owner_id FROM recordings WHERE id = ANY($1::bigint[])", recording_ids
    )
    return {row["id"]: row["owner_id"] for row in rows}


async def queued_as(conn: Conn, recording_id: int, job_id: str) -> None:
    """Show the job queued to process the recording, unless another one is processing it."""
    await conn.execute(
        """UPDATE recordings SET job_id = $2, updated_at = now()
           WHERE id = $1 AND status IN ('uploaded', 'failed')""",
        recording_id, job_id,
    )  # fmt: skip


async def live_candidates(conn: Conn) -> list[tuple[int, str]]:
    """(recording id, job id) of recordings waiting for or in processing."""
    rows = await conn.fetch(
        """SELECT id, job_id FROM recordings
           WHERE status IN ('uploaded', 'processing') AND job_id IS NOT NULL"""
    )
    return [(row["id"], row["job_id"]) for row in rows]


async def chunk_names_of(conn: Conn, recording_ids: list[int]) -> set[str]:
    rows = await conn.fetch(
        "SELECT storage_name FROM chunks WHERE recording_id = ANY($1::bigint[])", recording_ids
    )
    return {row["storage_name"] for row in rows}


async def chunks_after(conn: Conn, after_id: int, limit: int) -> list[tuple[int, int, str]]:
    """(chunk id, recording id, storage name) of chunks by id, a page at a time."""
    rows = await conn.fetch(
        """SELECT id, recording_id, storage_name FROM chunks WHERE id > $1
           ORDER BY id LIMIT $2""",
        after_id, limit,
    )  # fmt: skip
    return [(row["id"], row["recording_id"], row["storage_name"]) for row in rows]


async def delete_chunks(conn: asyncpg.Connection, chunk_ids: list[int]) -> int:
    """Delete chunk rows (their transcriptions go with them) and recount their recordings."""
    async with conn.transaction():
        rows = await conn.fetch(
            "DELETE FROM chunks WHERE id = ANY($1::bigint[]) RETURNING recording_id", chunk_ids
        )
        await conn.execute(
            """UPDATE recordings r SET updated_at = now(),
                   chunk_count = (SELECT count(*) FROM chunks c WHERE c.recording_id = r.id)
               WHERE r.id = ANY($1::bigint[])""",
            list({row["recording_id"] for row in rows}),
        )
    return len(rows)


async def known_storage_names(conn: Conn, names: list[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT storage_name FROM recordings WHERE storage_name = ANY($1::text[])", names
    )
    return {row["storage_name"] for row in rows}


async def transient_failures(
    conn: Conn, max_attempts: int, limit: int
) -> list[tuple[int, int | None, int]]:
    """(id, owner id, reprocess count) of recordings failed for a transient reason that may be
    queued again, oldest failure first."""
    rows = await conn.fetch(
        """SELECT id, owner_id, reprocess_count FROM recordings
           WHERE status = 'failed' AND error_kind = 'transient' AND reprocess_count < $1
           ORDER BY updated_at LIMIT $2""",
        max_attempts, limit,
    )  # fmt: skip
    return [(row["id"], row["owner_id"], row["reprocess_count"]) for row in rows]


async def stale_processing(conn: Conn, idle_s: float, limit: int) -> list[tuple[int, str]]:
    """(id, job id) of recordings shown processing with no change for `idle_s` seconds."""
    rows = await conn.fetch(
        """SELECT id, job_id FROM recordings
           WHERE status = 'processing' AND job_id IS NOT NULL
             AND updated_at < now() - make_interval(secs => $1)
           ORDER BY updated_at LIMIT $2""",
        idle_s, limit,
    )  # fmt: skip
    return [(row["id"], row["job_id"]) for row in rows]


async def abandoned(conn: Conn, recording_id: int, job_id: str, error: str) -> bool:
    """Fail a recording whose processing job ended without saying how it went (terminated, or
    out of time); False if it is no longer processing by that job."""
    done = await conn.fetchval(
        """UPDATE recordings SET status = 'failed', error = $3, error_kind = NULL,
               updated_at = now()
           WHERE id = $1 AND status = 'processing' AND job_id = $2 RETURNING id""",
        recording_id, job_id, error,
    )  # fmt: skip
    return done is not None


async def count_exhausted(conn: Conn, max_attempts: int) -> int:
    """Transient failures queued again as often as allowed: left for an admin."""
    count: int = await conn.fetchval(
        """SELECT count(*) FROM recordings
           WHERE status = 'failed' AND error_kind = 'transient' AND reprocess_count >= $1""",
        max_attempts,
    )
    return count


async def requeued(conn: Conn, recording_id: int, attempt: int, job_id: str | None) -> bool:
    """Count the reprocess attempt and show the recording as waiting for `job_id` (None: only
    count it); False if another run of the cron counted it already or the recording changed."""
    done = await conn.fetchval(
        """UPDATE recordings SET reprocess_count = $2, updated_at = now(),
               status = CASE WHEN $3::text IS NULL THEN status ELSE 'uploaded' END,
               job_id = coalesce($3, job_id)
           WHERE id = $1 AND reprocess_count = $2 - 1 AND status = 'failed'
             AND error_kind = 'transient'
           RETURNING id""",
        recording_id, attempt, job_id,
    )  # fmt: skip
    return done is not None
