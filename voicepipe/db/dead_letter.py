"""SQL for the dead letter narrowed by task, queue, owner and text: the jobs that failed for good and
were not retried (no job row names them in `retry_of`), newest failure first by keyset
(jobs_failed_idx), and their ids up to a bound, for a count that stays cheap."""

from __future__ import annotations

from datetime import datetime

from voicepipe.db.job_lists import SEARCHED, Params, like_pattern
from voicepipe.db.jobs import JOB_COLUMNS, Conn, job_info
from voicepipe.domain.job_info import JobFilters, JobInfo

ORDER = "ORDER BY completed_at DESC, task_id DESC"
NOT_RETRIED = "NOT EXISTS (SELECT 1 FROM jobs rerun WHERE rerun.retry_of = jobs.task_id)"


def _where(filters: JobFilters, after: tuple[datetime, str] | None, params: Params) -> str:
    """The dead letter's conditions; of `filters` only queue, task name, owner and search apply."""
    where = ["status = 'failure'", NOT_RETRIED]
    for column in ("queue", "task_name", "owner_id"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"{column} = {params.add(value)}")
    if filters.search:
        where.append(f"{SEARCHED} ILIKE {params.add(like_pattern(filters.search))}")
    if after is not None:
        where.append(f"(completed_at, task_id) < ({params.add(after[0])}, {params.add(after[1])})")
    return "WHERE " + " AND ".join(where)


async def failed_page(
    conn: Conn, filters: JobFilters, limit: int, after: tuple[datetime, str] | None
) -> list[JobInfo]:
    """Up to `limit` dead-letter jobs matching `filters`, after the cursor row."""
    params = Params()
    where = _where(filters, after, params)
    sql = f"SELECT {JOB_COLUMNS} FROM jobs {where} {ORDER} LIMIT {params.add(limit)}"
    return [job_info(row) for row in await conn.fetch(sql, *params)]


async def failed_ids(conn: Conn, filters: JobFilters, limit: int) -> list[str]:
    """The ids of up to `limit` dead-letter jobs matching `filters`, newest failure first."""
    params = Params()
    where = _where(filters, None, params)
    sql = f"SELECT task_id FROM jobs {where} {ORDER} LIMIT {params.add(limit)}"
    return [row["task_id"] for row in await conn.fetch(sql, *params)]
