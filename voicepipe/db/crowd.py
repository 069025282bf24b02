"""SQL for the crowd: the work queue of open chunks, claims on them, and transcriptions."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from voicepipe.db.jobs import Conn

# A queued consensus job older than this is taken for lost (see services.crowd) and replaced.
CONSENSUS_MARKER_STALE_S = 600


@dataclass(frozen=True)
class ChunkAccess:
    """A chunk with what deciding who may see it needs (its recording's owner and status)."""

    id: int
    recording_id: int
    owner_id: int | None
    recording_processed: bool
    position: int
    start_s: float
    end_s: float
    storage_name: str
    status: str
    consensus_text: str | None
    confidence: float | None
    transcription_count: int


_ACCESS = """c.id, c.recording_id, r.owner_id, r.status = 'processed' AS recording_processed,
    c.position, c.start_s, c.end_s, c.storage_name, c.status, c.consensus_text, c.confidence,
    c.transcription_count"""


def _access(row: asyncpg.Record) -> ChunkAccess:
    return ChunkAccess(**dict(row))


async def get_chunk(conn: Conn, chunk_id: int) -> ChunkAccess | None:
    row = await conn.fetchrow(
        f"""SELECT {_ACCESS} FROM chunks c JOIN recordings r ON r.id = c.recording_id
            WHERE c.id = $1""",
        chunk_id,
    )
    return _access(row) if row else None


async def has_transcribed(conn: Conn, chunk_id: int, contributor_id: int) -> int | None:
    """The id of the contributor's transcription of the chunk, if any."""
    value: int | None = await conn.fetchval(
        "SELECT id FROM transcriptions WHERE chunk_id = $1 AND contributor_id = $2",
        chunk_id, contributor_id,
    )  # fmt: skip
    return value


# Whether a submission queues a consensus job: the SET expressions see the row as it was, and
# the row lock orders concurrent submissions to one chunk, so exactly one of them queues.
_QUEUE = """(transcription_count + 1 >= $2 AND (consensus_job_id IS NULL
    OR consensus_queued_at < now() - make_interval(secs => $4)))"""

# The crowd's work queue, one status at a time, each read in (position, recording_id) order from
# its own partial index (chunks_awaiting_idx, chunks_needs_more_idx), so every recording's early
# chunks come before anyone's later ones, stopping at the first chunk the caller may take. The
# status is written into the SQL, not passed: a generic plan could not use a partial index. A
# chunk is skipped while others hold live claims enough to give it what it still needs (one
# more for needs_more; up to the minimum otherwise).
OPEN_STATUSES = ("needs_more", "awaiting_transcriptions")  # served in this order
_OPEN_TO = """
FROM chunks c JOIN recordings r ON r.id = c.recording_id
WHERE c.status = '{status}' AND r.status = 'processed' AND r.owner_id IS DISTINCT FROM $1
  AND NOT EXISTS (SELECT 1 FROM transcriptions t WHERE t.chunk_id = c.id AND t.contributor_id = $1)
  AND (SELECT count(*) FROM chunk_claims k WHERE k.chunk_id = c.id AND k.contributor_id <> $1
                                            AND k.expires_at > now())
      < {needed}
"""
# how many live claims of others a chunk takes: what it still needs ($2: the minimum count)
_NEEDED = {
    "needs_more": "least($2, 1)",  # one more
    "awaiting_transcriptions": "greatest($2 - c.transcription_count, 1)",
}


def _open_to(status: str) -> str:
    if status not in OPEN_STATUSES:
        raise ValueError(f"not an open chunk status: {status!r}")
    return _OPEN_TO.format(status=status, needed=_NEEDED[status])


async def release_claims(conn: Conn, contributor_id: int) -> list[int]:
    """Drop every claim of the contributor; returns the chunks they held."""
    rows = await conn.fetch(
        "DELETE FROM chunk_claims WHERE contributor_id = $1 RETURNING chunk_id", contributor_id
    )
    return [row["chunk_id"] for row in rows]


async def pick_open_chunk(
    conn: Conn, contributor_id: int, status: str, exclude: list[int], min_transcriptions: int
) -> int | None:
    value: int | None = await conn.fetchval(
        f"""SELECT c.id {_open_to(status)} AND c.id <> ALL($3::bigint[])
            ORDER BY c.position, c.recording_id LIMIT 1""",
        contributor_id, min_transcriptions, exclude,
    )  # fmt: skip
    return value


async def lock_if_still_open(
    conn: asyncpg.Connection,
    chunk_id: int,
    contributor_id: int,
    status: str,
    min_transcriptions: int,
) -> bool:
    """Lock the picked chunk's row (until the transaction ends), then check it again.

    Callers that picked the same chunk at the same moment take turns here, and the check, a
    new statement, sees the claims committed by those before: claim counts are exact, while
    callers on different chunks never wait for each other.
    """
    attempt = conn.transaction()  # a savepoint: a chunk given up is unlocked at once, so a
    await attempt.start()  # caller waits holding no other chunk's lock (no deadlock)
    await conn.execute("SELECT 1 FROM chunks WHERE id = $1 FOR NO KEY UPDATE", chunk_id)
    found = await conn.fetchval(
        f"SELECT c.id {_open_to(status)} AND c.id = $3",
        contributor_id,
        min_transcriptions,
        chunk_id,
    )
    if found is None:
        await attempt.rollback()
        return False
    await attempt.commit()
    return True


async def claim(conn: Conn, chunk_id: int, contributor_id: int, claim_s: int) -> None:
    await conn.execute(
        """INSERT INTO chunk_claims (chunk_id, contributor_id, expires_at)
           VALUES ($1, $2, now() + make_interval(secs => $3))
           ON CONFLICT (chunk_id, contributor_id) DO UPDATE SET expires_at = EXCLUDED.expires_at""",
        chunk_id, contributor_id, float(claim_s),
    )  # fmt: skip


@dataclass(frozen=True)
class Submitted:
    transcription_id: int
    transcription_count: int
    queue_consensus: bool  # this transaction set the chunk's consensus marker to our job id


async def add_transcription(
    conn: asyncpg.Connection,
    chunk_id: int,
    contributor_id: int,
    text: str,
    min_transcriptions: int,
    job_id: str,
) -> Submitted | None:
    """Insert, count, drop the caller's claim and maybe mark a consensus job as queued (run in
    a transaction); None if the contributor has transcribed the chunk already."""
    transcription_id = await conn.fetchval(
        """INSERT INTO transcriptions (chunk_id, contributor_id, text) VALUES ($1, $2, $3)
           ON CONFLICT (chunk_id, contributor_id) DO NOTHING RETURNING id""",
        chunk_id, contributor_id, text,
    )  # fmt: skip
    if transcription_id is None:
        return None
    # The claim before the chunk row: the order next_chunk locks them in (no deadlock).
    await conn.execute(
        "DELETE FROM chunk_claims WHERE chunk_id = $1 AND contributor_id = $2",
        chunk_id, contributor_id,
    )  # fmt: skip
    row = await conn.fetchrow(
        f"""UPDATE chunks SET
               transcription_count = transcription_count + 1,
               consensus_job_id = CASE WHEN {_QUEUE} THEN $3 ELSE consensus_job_id END,
               consensus_queued_at = CASE WHEN {_QUEUE} THEN now() ELSE consensus_queued_at END,
               updated_at = now()
           WHERE id = $1
           RETURNING transcription_count, consensus_job_id IS NOT DISTINCT FROM $3 AS queued""",
        chunk_id, min_transcriptions, job_id, float(CONSENSUS_MARKER_STALE_S),
    )  # fmt: skip
    return Submitted(transcription_id, row["transcription_count"], bool(row["queued"]))


async def clear_marker(conn: Conn, chunk_ids: list[int], job_id: str) -> int:
    """Forget that `job_id` is queued for these chunks (where it still is the marked one)."""
    result: str = await conn.execute(
        """UPDATE chunks SET consensus_job_id = NULL, consensus_queued_at = NULL
           WHERE id = ANY($1::bigint[]) AND consensus_job_id = $2""",
        chunk_ids, job_id,
    )  # fmt: skip
    return int(result.split()[-1])
