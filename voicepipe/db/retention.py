"""SQL for retention: deleting the history of jobs that finished long ago."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def prune_finished(
    conn: asyncpg.Connection | asyncpg.Pool, before: datetime, batch: int
) -> int:
    """Delete up to `batch` jobs finished before `before`, oldest first, with their events."""
    deleted: int = await conn.fetchval(
        """WITH doomed AS (
               SELECT task_id FROM jobs WHERE completed_at < $1
               ORDER BY completed_at LIMIT $2 FOR UPDATE SKIP LOCKED),
           gone AS (DELETE FROM jobs USING doomed WHERE jobs.task_id = doomed.task_id
                    RETURNING jobs.task_id),
           events AS (DELETE FROM job_events USING gone WHERE job_events.task_id = gone.task_id)
           SELECT count(*) FROM gone""",
        before,
        batch,
    )
    return deleted
