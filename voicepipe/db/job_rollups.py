"""Statistics SQL over the rollups of migrations 0007 and 0008: whole hours (or minutes) from the rollup tables,
the partial ones at a window's edges from the jobs themselves, so every count is exact."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeAlias

import asyncpg

from voicepipe.db.job_stats import LIVE_STATUSES, FinishedCounts, owner_clause

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def whole_units(since: datetime, until: datetime, unit: timedelta) -> tuple[datetime, datetime]:
    """[first, last) whole UTC units (hours, days) inside [since, until); empty at `until` if none."""
    epoch = datetime(2000, 1, 1, tzinfo=since.tzinfo)
    first = epoch + -(-(since - epoch) // unit) * unit
    last = epoch + ((until - epoch) // unit) * unit
    return (first, last) if first < last else (until, until)


def whole_hours(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    return whole_units(since, until, HOUR)


# Jobs finished in the window's partial hours: [since, first) and [last, until).
_EDGES = """SELECT {columns} FROM jobs WHERE completed_at >= $1 AND completed_at < $3 {owner}
            UNION ALL
            SELECT {columns} FROM jobs WHERE completed_at >= $4 AND completed_at < $2 {owner}"""


async def finished_counts(
    conn: Conn, since: datetime, until: datetime, owner_id: int | None = None
) -> FinishedCounts:
    """Jobs finished in [since, until) by final status, and per task and per queue; only
    `owner_id`'s when given (counted from the rows: the rollups know no owners)."""
    first, last = whole_hours(since, until) if owner_id is None else (until, until)
    owner, owner_args = owner_clause(owner_id, 5)
    rows = await conn.fetch(
        f"""WITH parts AS (
                SELECT status, task_name, queue, count(*) AS n
                FROM ({_EDGES.format(columns="status, task_name, queue", owner=owner)}) AS edge
                GROUP BY 1, 2, 3
                UNION ALL
                SELECT status, task_name, queue, n FROM job_rollup_hourly
                WHERE hour >= $3 AND hour < $4)
            SELECT status, task_name, queue, GROUPING(task_name, queue) AS grouping,
                   sum(n)::int8 AS n
            FROM parts GROUP BY GROUPING SETS ((status), (status, task_name), (status, queue))
            HAVING sum(n) <> 0""",
        since, until, first, last, *owner_args,
    )  # fmt: skip
    counts = FinishedCounts({}, {}, {})
    for row in rows:
        if row["grouping"] == 3:
            counts.by_status[row["status"]] = row["n"]
        elif row["grouping"] == 1:
            counts.by_task.setdefault(row["task_name"], {})[row["status"]] = row["n"]
        else:
            counts.by_queue.setdefault(row["queue"], {})[row["status"]] = row["n"]
    return counts


async def finished_per_bucket(
    conn: Conn, since: datetime, until: datetime, bucket_s: int, owner_id: int | None = None
) -> dict[datetime, int]:
    """Finished jobs per `bucket_s` bucket from `since`: whole minutes from the minute rollup, the
    minutes a bucket boundary cuts through from the jobs themselves (all from the rows for one
    owner's jobs)."""
    if owner_id is not None:
        rows = await conn.fetch(
            """SELECT date_bin(make_interval(secs => $3), completed_at, $1) AS start, count(*) AS n
               FROM jobs WHERE owner_id = $4 AND completed_at >= $1 AND completed_at < $2
               GROUP BY 1""",
            since, until, float(bucket_s), owner_id,
        )  # fmt: skip
        return {row["start"]: row["n"] for row in rows}
    rows = await conn.fetch(
        """WITH bounds AS (
                SELECT $1::timestamptz + make_interval(secs => k * $3::float8) AS b
                FROM generate_series(
                    0, ceil(extract(epoch FROM $2::timestamptz - $1::timestamptz) / $3)::int - 1) AS k
                UNION ALL SELECT $2::timestamptz),
            cut AS (
                SELECT DISTINCT date_bin('1 minute', b, timestamptz '2000-01-01 00:00+00') AS m
                FROM bounds WHERE b <> date_bin('1 minute', b, timestamptz '2000-01-01 00:00+00')),
            counted AS (
                SELECT j.completed_at AS at, 1::int8 AS n
                FROM cut JOIN jobs j ON j.completed_at >= cut.m AND j.completed_at < cut.m + interval '1 minute'
                WHERE j.completed_at >= $1 AND j.completed_at < $2
                UNION ALL
                SELECT r.minute, r.n FROM job_rollup_minutely r
                WHERE r.minute >= $1 AND r.minute + interval '1 minute' <= $2
                  AND r.minute NOT IN (SELECT m FROM cut))
            SELECT date_bin(make_interval(secs => $3), at, $1) AS start, sum(n)::int8 AS n
            FROM counted GROUP BY 1 HAVING sum(n) <> 0""",
        since, until, float(bucket_s),
    )  # fmt: skip
    return {row["start"]: row["n"] for row in rows}


async def duration_histograms(
    conn: Conn, since: datetime, until: datetime
) -> dict[int, list[tuple[int, int]]]:
    """Per kind (0 run time, 1 wait time): [(bucket, jobs)] of jobs finished in the window, from
    whole days, then whole hours, then the jobs of the partial hours at the edges."""
    first_h, last_h = whole_hours(since, until)
    first_d, last_d = whole_units(first_h, last_h, DAY) if first_h < last_h else (last_h, last_h)
    columns = """voicepipe_duration_bucket(extract(epoch FROM completed_at - started_at)::float8) AS run_b,
                 voicepipe_duration_bucket(extract(epoch FROM started_at
                     - greatest(created_at, scheduled_for))::float8) AS wait_b"""
    rows = await conn.fetch(
        f"""WITH edge AS ({_EDGES.format(columns=columns + ", started_at", owner="")}),
            parts AS (
                SELECT 0 AS kind, run_b AS bucket, count(*) AS n FROM edge
                WHERE started_at IS NOT NULL GROUP BY 2
                UNION ALL
                SELECT 1, wait_b, count(*) FROM edge WHERE started_at IS NOT NULL GROUP BY 2
                UNION ALL
                SELECT kind, bucket, n FROM job_duration_hourly WHERE hour >= $3 AND hour < $5
                UNION ALL
                SELECT kind, bucket, n FROM job_duration_hourly WHERE hour >= $6 AND hour < $4
                UNION ALL
                SELECT kind, bucket, n FROM job_duration_daily WHERE day >= $5 AND day < $6)
            SELECT kind, bucket, sum(n)::int8 AS n FROM parts GROUP BY 1, 2 HAVING sum(n) <> 0""",
        since, until, first_h, last_h, first_d, last_d,
    )  # fmt: skip
    histograms: dict[int, list[tuple[int, int]]] = {0: [], 1: []}
    for row in rows:
        histograms[row["kind"]].append((row["bucket"], row["n"]))
    return histograms


async def counts_by_task_and_status(conn: Conn) -> list[tuple[str, str, int]]:
    """Every recorded job by task and status: finished ones from the rollup, live ones counted."""
    rows = await conn.fetch(
        """SELECT task_name, status, sum(n)::int8 AS n FROM job_rollup_hourly
           GROUP BY 1, 2 HAVING sum(n) <> 0
           UNION ALL
           SELECT task_name, status, count(*) FROM jobs WHERE status = ANY($1::text[])
           GROUP BY 1, 2""",
        LIVE_STATUSES,
    )
    return [(row["task_name"], row["status"], row["n"]) for row in rows]


async def runtime_histogram(conn: Conn) -> list[tuple[int, int]]:
    """[(bucket, jobs)] of the run time of every recorded finished job."""
    rows = await conn.fetch(
        """SELECT bucket, sum(n)::int8 AS n FROM job_duration_daily WHERE kind = 0
           GROUP BY 1 HAVING sum(n) <> 0"""
    )
    return [(row["bucket"], row["n"]) for row in rows]
