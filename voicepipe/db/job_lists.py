"""SQL for job lists: filters, keyset pages newest first, and text search that stays fast at
millions of rows whether the searched text is common or rare."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from voicepipe.db.jobs import JOB_COLUMNS, Conn, job_info
from voicepipe.domain.job_info import JobFilters, JobInfo

ORDER = "ORDER BY created_at DESC, task_id DESC"
# The trigram index jobs_search_idx is on this expression, so the index serves the search.
SEARCHED = "(task_id || ' ' || task_name || ' ' || coalesce(error, ''))"
# How many of the newest matching-filter rows a search reads before it asks the trigram index.
SEARCH_PROBE_ROWS = 20_000  # ~25 ms; past it, at most 1 match in 400 rows: few enough for the index


class Params(list[Any]):
    def add(self, value: Any) -> str:
        self.append(value)
        return f"${len(self)}"


def like_pattern(term: str) -> str:
    """`term` anywhere in a text, for ILIKE: its own %, _ and \\ taken literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(
    filters: JobFilters, after: tuple[datetime, str] | None, params: Params
) -> list[str]:
    where = []
    if filters.statuses:
        where.append(f"status = ANY({params.add([s.value for s in filters.statuses])}::text[])")
    for column in ("queue", "task_name", "owner_id", "batch_id"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"{column} = {params.add(value)}")
    if filters.created_after is not None:
        where.append(f"created_at >= {params.add(filters.created_after)}")
    if filters.created_before is not None:
        where.append(f"created_at < {params.add(filters.created_before)}")
    if after is not None:
        where.append(f"(created_at, task_id) < ({params.add(after[0])}, {params.add(after[1])})")
    return where


def _where(conditions: list[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


async def list_jobs(
    conn: Conn,
    filters: JobFilters,
    limit: int,
    after: tuple[datetime, str] | None,
    probe_rows: int = SEARCH_PROBE_ROWS,
) -> list[JobInfo]:
    """Newest first by (created_at, task_id), starting after the cursor row."""
    if filters.search:
        return await _search(conn, filters, limit, after, probe_rows)
    params = Params()
    where = _where(_conditions(filters, after, params))
    sql = f"SELECT {JOB_COLUMNS} FROM jobs {where} {ORDER} LIMIT {params.add(limit)}"
    return [job_info(row) for row in await conn.fetch(sql, *params)]


async def _search(
    pool: Conn,
    filters: JobFilters,
    limit: int,
    after: tuple[datetime, str] | None,
    probe_rows: int,
) -> list[JobInfo]:
    """A common text is found among the newest rows at once, a rare one through the trigram
    index; the planner cannot tell which is which (it has no statistics for substrings), so up to
    SEARCH_PROBE_ROWS of the newest rows are read first and the index serves only the older rest."""
    assert filters.search is not None
    params = Params()
    where = _where(_conditions(filters, after, params))
    like = params.add(like_pattern(filters.search))
    probe_sql = f"""SELECT * FROM (
                        SELECT {JOB_COLUMNS}, {SEARCHED} ILIKE {like} AS hit FROM jobs {where}
                        {ORDER} LIMIT {params.add(probe_rows)}) AS newest
                    WHERE hit {ORDER} LIMIT {params.add(limit)}"""
    async with _connection(pool) as conn:
        found = [job_info(row) for row in await conn.fetch(probe_sql, *params)]
        if len(found) == limit:
            return found
        at = Params()
        edge_sql = f"""SELECT created_at, task_id FROM jobs {_where(_conditions(filters, after, at))}
                       {ORDER} OFFSET {at.add(probe_rows - 1)} LIMIT 1"""
        edge = await conn.fetchrow(edge_sql, *at)
        if edge is None:  # the probe read every row that passes the filters
            return found
        rest = Params()
        older = _conditions(filters, (edge["created_at"], edge["task_id"]), rest)
        older.append(f"{SEARCHED} ILIKE {rest.add(like_pattern(filters.search))}")
        sql = f"SELECT {JOB_COLUMNS} FROM jobs {_where(older)} {ORDER} LIMIT {rest.add(limit - len(found))}"
        async with conn.transaction():
            # Only the trigram index finds a rare text fast; keep the planner off the ordered scan.
            await conn.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_seqscan = off")
            more = await conn.fetch(sql, *rest)
    return found + [job_info(row) for row in more]


@asynccontextmanager
async def _connection(conn: Conn) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as acquired:
            yield acquired
    else:
        yield conn
