"""Bulk loading of job rows (the API benchmark's fill): COPY, then vacuum and fresh statistics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

FILL_COLUMNS = ("task_id", "task_name", "queue", "status", "priority", "created_at", "scheduled_for",
                "started_at", "completed_at", "error", "retry_count", "max_retries", "worker",
                "args", "owner_id", "queued_seen")  # fmt: skip


@asynccontextmanager
async def copy_connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own whose jsonb codec is binary, as COPY needs."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.set_type_codec(
            "jsonb", encoder=lambda v: b"\x01" + json.dumps(v).encode(),
            decoder=lambda b: json.loads(b[1:]), schema="pg_catalog", format="binary",
        )  # fmt: skip
        yield conn
    finally:
        await conn.close()


async def copy_jobs(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """COPY rows (in FILL_COLUMNS order) into `jobs`; the rollup triggers see them as one insert."""
    await conn.copy_records_to_table("jobs", records=rows, columns=list(FILL_COLUMNS))


async def vacuum_analyze_jobs(conn: asyncpg.Connection) -> None:
    """Set the visibility map (index-only scans) and the planner's statistics after a bulk load."""
    for table in (
        "jobs",
        "job_rollup_hourly",
        "job_rollup_minutely",
        "job_duration_hourly",
        "job_duration_daily",
    ):
        await conn.execute(f"VACUUM (ANALYZE) {table}")


async def vacuum_analyze_history(conn: asyncpg.Connection) -> None:
    """`vacuum_analyze_jobs` and the timeline too (a benchmark round leaves many dead rows)."""
    await vacuum_analyze_jobs(conn)
    await conn.execute("VACUUM (ANALYZE) job_events")


async def checkpoint(conn: asyncpg.Connection) -> bool:
    """Write every dirty page now; False when PostgreSQL refuses (the user is no superuser)."""
    try:
        await conn.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError:
        return False
    return True


async def job_ids_sample(conn: asyncpg.Connection, n: int) -> list[str]:
    rows = await conn.fetch("SELECT task_id FROM jobs ORDER BY random() LIMIT $1", n)
    return [row["task_id"] for row in rows]
