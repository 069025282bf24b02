"""How the job pages write a job's facts: its priority's name, how long it waited and ran, its
error's first line, whose it is, and its arguments or result as bounded, pretty JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from voicepipe.db.users import UserRow
from voicepipe.domain.job_info import JobInfo
from voicepipe.domain.jobs import JobPriority, JobStatus
from voicepipe.web.pages.render import duration

WAITING = (JobStatus.PENDING, JobStatus.SCHEDULED, JobStatus.RETRY)


def priority_name(priority: int) -> str:
    try:
        return JobPriority(priority).name.lower()
    except ValueError:
        return str(priority)


def wait_text(job: JobInfo, now: datetime) -> str:
    """From due to started; for a job still waiting, how long so far (or when it is due)."""
    due = job.scheduled_for or job.created_at
    if job.started_at is not None:
        return duration(max(0.0, (job.started_at - due).total_seconds()))
    if job.status in WAITING:
        waited_s = (now - due).total_seconds()
        return f"{duration(waited_s)} so far" if waited_s >= 0 else f"due in {duration(-waited_s)}"
    return "—"


def run_text(job: JobInfo, now: datetime) -> str:
    """From started to finished; for a job running now, how long so far."""
    if job.runtime_s is not None:
        return duration(job.runtime_s)
    if job.status is JobStatus.STARTED and job.started_at is not None:
        return f"{duration((now - job.started_at).total_seconds())} so far"
    return "—"


def first_line(error: str | None, limit: int = 140) -> str:
    lines = (error or "").strip().splitlines()
    return shorten(lines[0], limit) if lines else ""


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def owner_text(job: JobInfo, viewer: UserRow) -> str:
    if job.owner_id is None:
        return "system"
    return "you" if job.owner_id == viewer.id else f"user #{job.owner_id}"


def pretty_json(value: Any, limit: int) -> str:
    """`value` as indented JSON, cut after `limit` characters (a page stays small whatever a
    task returned)."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return bounded(text, limit)


def bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit:,} more characters not shown)"
