"""The Job page (GET /jobs/{job_id}): one job's facts, arguments, result, error and traceback, the
timeline of its events and a live progress bar; for admins the actions its status allows (POST
/jobs/{job_id}/cancel, /terminate, /retry, each confirmed first, see web/pages/actions.py).

A job the reader may not see is "no such job" to them, exactly like one that does not exist.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from voicepipe import errors
from voicepipe.db.users import UserRow
from voicepipe.domain.job_info import JobEvent, JobInfo
from voicepipe.domain.jobs import JobStatus
from voicepipe.history import monitoring
from voicepipe.resources import Resources
from voicepipe.web.context import resources_of
from voicepipe.web.pages import actions
from voicepipe.web.pages.jobs import is_admin
from voicepipe.web.pages.jobs_actions import ACTIONS, Action
from voicepipe.web.pages.jobs_text import (
    bounded,
    first_line,
    owner_text,
    pretty_json,
    priority_name,
    run_text,
    wait_text,
)
from voicepipe.web.pages.render import age, duration, render_page, when
from voicepipe.web.pages.session import require_admin, require_user

ROUTES = web.RouteTableDef()

MAX_JOB_ID_CHARS = 200
JSON_CHARS = 20_000  # arguments, result, metadata: each cut here, so the page stays < 200 KB
ERROR_CHARS = 5_000
TRACEBACK_CHARS = 40_000
TIMELINE_EVENTS = 200


@ROUTES.get("/jobs/{job_id}", name="job")
async def job_page(request: web.Request) -> web.Response:
    user = await require_user(request)
    job_id = request.match_info["job_id"]
    job, timeline, retried_as = await _read(resources_of(request), job_id)
    if job is None or not (is_admin(user) or job.owner_id == user.id):
        raise errors.NotFound(f"There is no job {job_id}.")
    context = job_context(job, timeline, retried_as, user, datetime.now(UTC))
    return render_page(request, "job.html", user, "jobs", context)


async def _read(
    resources: Resources, job_id: str
) -> tuple[JobInfo | None, list[JobEvent], str | None]:
    """The job, its timeline and the id of its rerun, read at the same time."""
    if len(job_id) > MAX_JOB_ID_CHARS or "\x00" in job_id:
        return None, [], None  # no job has such an id; PostgreSQL would refuse the NUL
    return await asyncio.gather(
        monitoring.get_job_info(resources, job_id),
        monitoring.get_job_timeline(resources, job_id),
        monitoring.get_retried_as(resources, job_id),
    )


def job_context(
    job: JobInfo, timeline: list[JobEvent], retried_as: str | None, user: UserRow, now: datetime
) -> dict[str, Any]:
    allowed = [a for a in ACTIONS.values() if job.status in a.allowed]
    if retried_as:  # a job is retried once: its rerun is the one to retry next
        allowed = [a for a in allowed if a.name != "retry"]
    return {
        "job": job,
        "priority": priority_name(job.priority),
        "owner": owner_text(job, user),
        "wait": wait_text(job, now),
        "run": run_text(job, now),
        "retried_as": retried_as,
        "moments": _moments(job, now),
        "args": pretty_json(job.args, JSON_CHARS),
        "result": None if job.result is None else pretty_json(job.result, JSON_CHARS),
        "metadata": pretty_json(job.metadata, JSON_CHARS) if job.metadata else None,
        "error": bounded(job.error, ERROR_CHARS) if job.error else None,
        "traceback": bounded(job.traceback, TRACEBACK_CHARS) if job.traceback else None,
        "timeline": [timeline_row(e, now) for e in timeline[-TIMELINE_EVENTS:]],
        "timeline_cut": max(0, len(timeline) - TIMELINE_EVENTS),
        "actions": allowed if is_admin(user) else [],
        "show_progress": job.status is JobStatus.STARTED or job.progress is not None,
        "live": "job",
        "live_job": job.task_id,
    }


def _moments(job: JobInfo, now: datetime) -> list[tuple[str, str, str]]:
    """(label, exact UTC time, how long ago) of the job's moments that happened."""
    moments = [
        ("Created", job.created_at), ("Scheduled for", job.scheduled_for),
        ("Started", job.started_at), ("Completed", job.completed_at),
    ]  # fmt: skip
    return [(label, when(at), age(at, now)) for label, at in moments if at is not None]


@dataclass(frozen=True)
class TimelineRow:
    event: str
    at: str
    ago: str
    try_number: str
    worker: str
    details: str


def timeline_row(event: JobEvent, now: datetime) -> TimelineRow:
    return TimelineRow(
        event=event.event,
        at=when(event.at),
        ago=age(event.at, now),
        try_number="—" if event.try_number is None else str(event.try_number),
        worker=event.worker or "—",
        details=event_details(event),
    )


def event_details(event: JobEvent) -> str:
    """What an event adds, in a few words: the error's first line, the runtime, when it is due."""
    data = event.data
    parts = []
    if isinstance(data.get("error"), str):
        parts.append(first_line(data["error"], 200))
    if isinstance(data.get("runtime_s"), int | float):
        parts.append(f"ran {duration(data['runtime_s'])}")
    if isinstance(data.get("eta"), int | float):
        due = datetime.fromtimestamp(data["eta"], UTC)
        parts.append(f"{'next try' if event.event == 'retry' else 'due'} at {when(due)} UTC")
    for key in ("reason", "outcome"):
        if isinstance(data.get(key), str):
            parts.append(data[key])
    if isinstance(data.get("retry_of"), str):
        parts.append(f"rerun of {data['retry_of']}")
    return " · ".join(parts)


@ROUTES.post("/jobs/{job_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    return await act(request, ACTIONS["cancel"])


@ROUTES.post("/jobs/{job_id}/terminate")
async def terminate(request: web.Request) -> web.Response:
    return await act(request, ACTIONS["terminate"])


@ROUTES.post("/jobs/{job_id}/retry")
async def retry(request: web.Request) -> web.Response:
    return await act(request, ACTIONS["retry"])


async def act(request: web.Request, action: Action) -> web.Response:
    """Ask first (without JS: a page of its own), then do it and go back to the job saying so."""
    user = await require_admin(request)
    form = await actions.posted(request)
    job_id = request.match_info["job_id"]
    back = f"/jobs/{quote(job_id, safe='')}"
    if not actions.confirmed(form):
        return actions.confirmation(
            request, user, form, question=action.question.format(job_id=job_id),
            button=f"{action.label} job", back=back, active="jobs", details=[action.detail],
        )  # fmt: skip
    return await actions.run(back, action.run(resources_of(request), job_id))
