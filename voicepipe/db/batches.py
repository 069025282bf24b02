"""SQL for batches: created with their size, closed once when all their jobs have finished."""

from __future__ import annotations

from voicepipe.db.jobs import Conn
from voicepipe.domain.batches import BatchSummary

_COUNTS = """count(*) FILTER (WHERE j.status = 'success') AS succeeded,
    count(*) FILTER (WHERE j.status = 'failure') AS failed,
    count(*) FILTER (WHERE j.status = 'cancelled') AS cancelled"""


async def create(conn: Conn, batch_id: str, name: str, owner_id: int | None, total: int) -> None:
    await conn.execute(
        "INSERT INTO batches (id, name, owner_id, total) VALUES ($1, $2, $3, $4)",
        batch_id, name, owner_id, total,
    )  # fmt: skip


async def summary(conn: Conn, batch_id: str) -> BatchSummary | None:
    row = await conn.fetchrow(
        f"""SELECT b.id, b.name, b.owner_id, b.total, b.created_at, b.closed_at, {_COUNTS}
            FROM batches b LEFT JOIN jobs j ON j.batch_id = b.id
            WHERE b.id = $1 GROUP BY b.id""",
        batch_id,
    )
    return BatchSummary.model_validate(dict(row)) if row else None


async def open_batch_ids(conn: Conn, job_ids: list[str]) -> list[str]:
    """The open batches the jobs `job_ids` belong to."""
    rows = await conn.fetch(
        """SELECT DISTINCT b.id FROM jobs j JOIN batches b ON b.id = j.batch_id
           WHERE j.task_id = ANY($1::text[]) AND b.closed_at IS NULL""",
        job_ids,
    )
    return [row["id"] for row in rows]


async def all_open_ids(conn: Conn) -> list[str]:
    rows = await conn.fetch("SELECT id FROM batches WHERE closed_at IS NULL ORDER BY created_at")
    return [row["id"] for row in rows]


async def existing(conn: Conn, batch_ids: list[str]) -> set[str]:
    """Which of `batch_ids` are batches (a job may carry a batch id nobody opened)."""
    rows = await conn.fetch("SELECT id FROM batches WHERE id = ANY($1::text[])", batch_ids)
    return {row["id"] for row in rows}


async def close_if_done(conn: Conn, batch_id: str) -> BatchSummary | None:
    """Close the batch if as many of its jobs have finished as it holds; the summary if this
    call closed it, None if it is still running or was closed already (so it is told once)."""
    row = await conn.fetchrow(
        f"""WITH counts AS (
                SELECT {_COUNTS} FROM jobs j WHERE j.batch_id = $1
            )
            UPDATE batches b SET closed_at = now() FROM counts c
            WHERE b.id = $1 AND b.closed_at IS NULL
              AND c.succeeded + c.failed + c.cancelled >= b.total
            RETURNING b.id, b.name, b.owner_id, b.total, b.created_at, b.closed_at,
                      c.succeeded, c.failed, c.cancelled""",
        batch_id,
    )
    return BatchSummary.model_validate(dict(row)) if row else None
