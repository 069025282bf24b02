"""The Jobs page (GET /jobs): every job newest first, filtered by status, queue, task, time and
text, a page of 50 at a time by keyset cursor; new jobs appear live at the top of the first page.

A user who is not an admin sees only their own jobs. No page counts the matching rows: at a
million jobs that alone would cost more than the whole page may.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from voicepipe.db.users import UserRow
from voicepipe.domain.job_info import JobInfo, JobPage, PageRequest
from voicepipe.domain.jobs import JobStatus
from voicepipe.engine.registry import REGISTRY
from voicepipe.history import monitoring
from voicepipe.settings import QUEUES
from voicepipe.web.context import resources_of
from voicepipe.web.pages import jobs_query
from voicepipe.web.pages.jobs_query import JobsQuery
from voicepipe.web.pages.jobs_text import (
    first_line,
    owner_text,
    priority_name,
    run_text,
    shorten,
    wait_text,
)
from voicepipe.web.pages.render import age, render_page, when
from voicepipe.web.pages.session import require_user

ROUTES = web.RouteTableDef()

PAGE_SIZE = 50


@dataclass(frozen=True)
class JobRow:
    """One row of the list, its cells written out."""

    job: JobInfo
    priority: str
    created: str  # how long ago
    created_at: str  # the exact moment, UTC
    wait: str
    run: str
    error: str  # its first line
    error_title: str
    owner: str
    running: bool  # shows a progress bar


@ROUTES.get("/jobs", name="jobs")
async def jobs(request: web.Request) -> web.Response:
    user = await require_user(request)
    query = jobs_query.parse(request.query, REGISTRY)
    owner_id = None if is_admin(user) else user.id
    wanted = PageRequest(limit=PAGE_SIZE, cursor=query.cursor)
    page = await monitoring.list_jobs(resources_of(request), query.filters(owner_id), wanted)
    context = jobs_context(query, page, user, datetime.now(UTC))
    return render_page(request, "jobs.html", user, "jobs", context)


def is_admin(user: UserRow) -> bool:
    return user.role == "admin"


def jobs_context(query: JobsQuery, page: JobPage, user: UserRow, now: datetime) -> dict[str, Any]:
    return {
        "query": query,
        "rows": [job_row(job, user, now) for job in page.items],
        "first_url": query.url(),
        "next_url": query.url(cursor=page.next_cursor) if page.next_cursor else None,
        "on_first_page": query.cursor is None,
        "statuses": [s.value for s in JobStatus],
        "queues": QUEUES,
        "tasks": sorted(REGISTRY),
        "ranges": query.range_links(now),
        "local_input": jobs_query.local_input,
        "show_owner": is_admin(user),
        "live": "job",
    }


def job_row(job: JobInfo, user: UserRow, now: datetime) -> JobRow:
    error = (job.error or "").strip()
    return JobRow(
        job=job,
        priority=priority_name(job.priority),
        created=age(job.created_at, now),
        created_at=when(job.created_at) + " UTC",
        wait=wait_text(job, now),
        run=run_text(job, now),
        error=first_line(error),
        error_title=shorten(error, 600),
        owner=owner_text(job, user),
        running=job.status is JobStatus.STARTED,
    )
