"""SQL for job statistics read from the jobs themselves: the backlog, exact percentiles (the rollups' side is voicepipe.db.job_rollups)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

LIVE_STATUSES = ["pending", "scheduled", "started", "retry"]
QUANTILES = [0.5, 0.95, 0.99]


@dataclass(frozen=True)
class FinishedCounts:
    by_status: dict[str, int]
    by_task: dict[str, dict[str, int]]
    by_queue: dict[str, dict[str, int]]


def owner_clause(owner_id: int | None, param: int) -> tuple[str, list[int]]:
    """`AND owner_id = $param` and its argument when `owner_id` is given, else nothing."""
    return ("", []) if owner_id is None else (f"AND owner_id = ${param}", [owner_id])


async def live_counts(conn: Conn, owner_id: int | None = None) -> dict[str, int]:
    """Jobs not finished yet, by status (the backlog is small next to history)."""
    owner, args = owner_clause(owner_id, 2)
    rows = await conn.fetch(
        f"""SELECT status, count(*)::int AS n FROM jobs WHERE status = ANY($1::text[]) {owner}
            GROUP BY status""",
        LIVE_STATUSES, *args,
    )  # fmt: skip
    return {row["status"]: row["n"] for row in rows}


@dataclass(frozen=True)
class Durations:
    """Quantiles (QUANTILES order) of run and wait seconds, None when nothing was measured."""

    runtime_s: list[float] | None
    wait_s: list[float] | None
    count: int


async def durations(
    conn: Conn, since: datetime, until: datetime, owner_id: int | None = None
) -> Durations:
    """Run time (completed - started) and wait time (started - due) of jobs finished in the window."""
    owner, args = owner_clause(owner_id, 4)
    row = await conn.fetchrow(
        f"""SELECT percentile_cont($3::float8[]) WITHIN GROUP
                      (ORDER BY extract(epoch FROM completed_at - started_at)::float8) AS runtime_s,
                  percentile_cont($3::float8[]) WITHIN GROUP
                      (ORDER BY extract(epoch FROM started_at - greatest(created_at, scheduled_for))::float8)
                      AS wait_s,
                  count(*)::int AS n
           FROM jobs
           WHERE completed_at >= $1 AND completed_at < $2 AND started_at IS NOT NULL {owner}""",
        since, until, QUANTILES, *args,
    )  # fmt: skip
    assert row is not None  # an aggregate without GROUP BY always returns one row
    return Durations(row["runtime_s"], row["wait_s"], row["n"])
