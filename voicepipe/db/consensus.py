"""SQL for consensus: chunks' transcriptions in, consensus, spam flags and reliability out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import asyncpg

from voicepipe.db.jobs import Conn

# (chunk_id, transcription_id, contributor_id, text), ordered by chunk then transcription
Row = tuple[int, int, int, str]


@dataclass(frozen=True)
class ChunkResult:
    """What the consensus of one chunk writes; `spam` maps transcription id -> reason."""

    chunk_id: int
    transcription_count: int  # the count it was computed from: a newer one wins
    consensus_text: str
    confidence: float
    status: str
    spam: dict[int, str]


async def transcriptions_of(conn: Conn, chunk_ids: Sequence[int]) -> list[Row]:
    rows = await conn.fetch(
        """SELECT chunk_id, id, contributor_id, text FROM transcriptions
           WHERE chunk_id = ANY($1::bigint[]) ORDER BY chunk_id, id""",
        list(chunk_ids),
    )
    return [(r["chunk_id"], r["id"], r["contributor_id"], r["text"]) for r in rows]


async def counts_of(conn: Conn, chunk_ids: Sequence[int]) -> dict[int, int]:
    rows = await conn.fetch(
        "SELECT id, transcription_count FROM chunks WHERE id = ANY($1::bigint[])", list(chunk_ids)
    )
    return {r["id"]: r["transcription_count"] for r in rows}


async def reliability_of(conn: Conn, contributor_ids: Sequence[int]) -> dict[int, float]:
    rows = await conn.fetch(
        """SELECT contributor_id, reliability FROM contributor_reliability
           WHERE contributor_id = ANY($1::bigint[])""",
        list(contributor_ids),
    )
    return {r["contributor_id"]: r["reliability"] for r in rows}


async def stream_transcriptions(pool: asyncpg.Pool, batch_rows: int) -> AsyncIterator[list[Row]]:
    """Every transcription, ordered by chunk, `batch_rows` at a time (a server-side cursor)."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        cursor = await conn.cursor(
            "SELECT chunk_id, id, contributor_id, text FROM transcriptions ORDER BY chunk_id, id"
        )
        while rows := await cursor.fetch(batch_rows):
            yield [(r["chunk_id"], r["id"], r["contributor_id"], r["text"]) for r in rows]


async def chunk_ids_to_recompute(
    conn: Conn, min_transcriptions: int, after_id: int, limit: int
) -> list[int]:
    """The next `limit` chunks (by id, after `after_id`) with enough transcriptions."""
    rows = await conn.fetch(
        """SELECT id FROM chunks WHERE id > $1 AND transcription_count >= $2
           ORDER BY id LIMIT $3""",
        after_id, min_transcriptions, limit,
    )  # fmt: skip
    return [r["id"] for r in rows]


async def count_to_recompute(conn: Conn, min_transcriptions: int) -> int:
    value: int = await conn.fetchval(
        "SELECT count(*) FROM chunks WHERE transcription_count >= $1", min_transcriptions
    )
    return value


async def write_results(conn: asyncpg.Connection, results: Sequence[ChunkResult]) -> list[int]:
    """Store consensus and spam flags (in a transaction) for the chunks whose transcription
    count is still the one the result was computed from; returns those chunks' ids."""
    written = await conn.fetch(
        """UPDATE chunks c SET consensus_text = u.text, confidence = u.confidence,
                  status = u.status, consensus_at = now(), updated_at = now()
           FROM unnest($1::bigint[], $2::int[], $3::text[], $4::float8[], $5::text[])
                AS u(id, count, text, confidence, status)
           WHERE c.id = u.id AND c.transcription_count = u.count
           RETURNING c.id""",
        [r.chunk_id for r in results], [r.transcription_count for r in results],
        [r.consensus_text for r in results], [r.confidence for r in results],
        [r.status for r in results],
    )  # fmt: skip
    ids = [row["id"] for row in written]
    kept = set(ids)
    spam = [(tid, reason) for r in results if r.chunk_id in kept for tid, reason in r.spam.items()]
    await conn.execute(
        """UPDATE transcriptions t SET flagged_spam = s.reason IS NOT NULL, spam_reason = s.reason
           FROM (SELECT t2.id, x.reason FROM transcriptions t2
                 LEFT JOIN unnest($2::bigint[], $3::text[]) AS x(id, reason) ON x.id = t2.id
                 WHERE t2.chunk_id = ANY($1::bigint[])) s
           WHERE t.id = s.id
             AND (t.flagged_spam, t.spam_reason) IS DISTINCT FROM (s.reason IS NOT NULL, s.reason)""",
        ids, [tid for tid, _ in spam], [reason for _, reason in spam],
    )  # fmt: skip
    return ids


async def store_reliability(conn: Conn, reliability: dict[int, tuple[float, int]]) -> None:
    """Upsert contributor -> (reliability, chunks scored)."""
    ids = sorted(reliability)
    await conn.execute(
        """INSERT INTO contributor_reliability (contributor_id, reliability, chunks_scored)
           SELECT u.id, u.reliability, u.scored
           FROM unnest($1::bigint[], $2::float8[], $3::int[]) AS u(id, reliability, scored)
           WHERE EXISTS (SELECT 1 FROM users WHERE users.id = u.id)
           ON CONFLICT (contributor_id) DO UPDATE SET reliability = EXCLUDED.reliability,
               chunks_scored = EXCLUDED.chunks_scored, updated_at = now()""",
        ids, [reliability[i][0] for i in ids], [reliability[i][1] for i in ids],
    )  # fmt: skip
