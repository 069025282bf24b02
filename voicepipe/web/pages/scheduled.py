"""The Scheduled page (GET /scheduled, admins): jobs waiting for a time (a countdown or eta), jobs
waiting for their next try, and the cron entries with their next and last runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from voicepipe.domain.job_info import JobFilters, JobInfo, PageRequest
from voicepipe.domain.job_views import CronEntry, ScheduledJob
from voicepipe.domain.jobs import JobPriority
from voicepipe.history import monitoring
from voicepipe.resources import Resources
from voicepipe.web.context import resources_of
from voicepipe.web.pages.render import Cell, Column, Table, age, duration, render_page, when
from voicepipe.web.pages.session import require_admin

ROUTES = web.RouteTableDef()
LISTED = 100  # the soonest jobs waiting for a time, over every queue


@ROUTES.get("/scheduled")
async def scheduled(request: web.Request) -> web.Response:
    user = await require_admin(request)
    context = await scheduled_context(resources_of(request), datetime.now(UTC))
    return render_page(request, "scheduled.html", user, "scheduled", context)


async def scheduled_context(resources: Resources, now: datetime) -> dict[str, Any]:
    waiting, lengths = await asyncio.gather(
        monitoring.get_scheduled_jobs(resources, limit=LISTED),
        monitoring.get_queue_lengths(resources),
    )
    last_runs = await _last_runs(resources, waiting.cron)
    deferred = [j for j in waiting.jobs if j.kind == "scheduled"]
    retries = [j for j in waiting.jobs if j.kind == "retry"]
    return {
        "deferred": deferred_table(deferred, now),
        "retries": retries_table(retries, now),
        "cron": cron_table(waiting.cron, last_runs, now),
        "listed": len(waiting.jobs),
        "total": sum(q.deferred for q in lengths),
        "live": "job",
    }


async def _last_runs(resources: Resources, cron: list[CronEntry]) -> dict[str, JobInfo]:
    """Each cron task's newest recorded job, one indexed row per task."""
    names = sorted({e.task_name for e in cron if e.task_name})
    pages = await asyncio.gather(
        *(monitoring.list_jobs(resources, JobFilters(task_name=n), PageRequest(limit=1)) for n in names)
    )  # fmt: skip
    return {name: page.items[0] for name, page in zip(names, pages, strict=True) if page.items}


def due_text(due: datetime, now: datetime) -> str:
    """How far off `due` is ("in 5 min"), or how late a job whose time has come but that no
    worker has taken yet is ("due 3 s ago")."""
    seconds = (due - now).total_seconds()
    if seconds >= 1:
        return f"in {duration(seconds)}"
    return "now" if seconds > -1 else f"due {age(due, now)}"


def _priority(value: int) -> str:
    try:
        return JobPriority(value).name.lower()
    except ValueError:
        return str(value)


def _due_cell(job: ScheduledJob, now: datetime) -> Cell:
    return Cell(due_text(job.due_at, now), css="nowrap", title=when(job.due_at) + " UTC")


def _job_cell(job: ScheduledJob) -> Cell:
    return Cell(job.task_id, href=f"/jobs/{job.task_id}", css="mono job-id")


def deferred_table(jobs: list[ScheduledJob], now: datetime) -> Table:
    table = Table(
        "Jobs waiting for their countdown or eta, soonest first",
        [Column("Due"), Column("Task"), Column("Queue"), Column("Priority"), Column("Job")],
        empty="No job is waiting for a time.",
        css="stack",
        caption_visible=False,
    )
    for job in jobs:
        table.add(
            _due_cell(job, now), job.task_name or "?", job.queue, _priority(job.priority),
            _job_cell(job),
        )  # fmt: skip
    return table


def retries_table(jobs: list[ScheduledJob], now: datetime) -> Table:
    table = Table(
        "Jobs waiting for their next try, soonest first",
        [Column("Next try"), Column("Try", numeric=True), Column("Task"), Column("Queue"),
         Column("Job")],
        empty="No job is waiting to be tried again.",
        css="stack",
        caption_visible=False,
    )  # fmt: skip
    for job in jobs:
        table.add(
            _due_cell(job, now), str(job.try_number or "?"), job.task_name or "?", job.queue,
            _job_cell(job),
        )  # fmt: skip
    return table


def cron_table(cron: list[CronEntry], last_runs: dict[str, JobInfo], now: datetime) -> Table:
    table = Table(
        "Periodic jobs, the next due first",
        [Column("Name", names_row=True), Column("Schedule (UTC)"), Column("Queue"),
         Column("Next run"), Column("Last run")],
        empty="No cron entry is published: no worker serving a queue with periodic jobs is running.",
        css="stack",
        caption_visible=False,
    )  # fmt: skip
    for entry in cron:
        last = last_runs.get(entry.task_name or "")
        table.add(
            entry.name, Cell(entry.schedule or "—", css="mono"), entry.queue or "—",
            Cell(due_text(entry.next_run_at, now), css="nowrap", title=when(entry.next_run_at) + " UTC"),
            _last_run_cell(last, now),
        )  # fmt: skip
    return table


def _last_run_cell(job: JobInfo | None, now: datetime) -> Cell:
    if job is None:
        return Cell("none recorded", css="muted")
    return Cell(
        f"{job.status.value}, {age(job.created_at, now)}", href=f"/jobs/{job.task_id}",
        title=f"job {job.task_id}, created {when(job.created_at)} UTC",
    )  # fmt: skip
