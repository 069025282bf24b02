"""Live and aggregate views of jobs: running, scheduled, queue lengths, statistics over a window."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from voicepipe.domain.jobs import JobStatus
from voicepipe.errors import InvalidInput


class ActiveJob(BaseModel):
    """A job a worker is running now (from Redis), with what PostgreSQL knows of it."""

    task_id: str
    task_name: str
    queue: str
    worker: str
    try_number: int
    started_at: datetime
    priority: int | None = None
    created_at: datetime | None = None
    progress: Any = None
    args: dict[str, Any] = Field(default_factory=dict)
    owner_id: int | None = None


class ScheduledJob(BaseModel):
    """A job waiting for a time: a countdown or eta (`scheduled`) or the next try (`retry`)."""

    task_id: str
    task_name: str | None
    queue: str
    priority: int
    due_at: datetime
    kind: Literal["scheduled", "retry"]
    try_number: int | None = None
    args: dict[str, Any] = Field(default_factory=dict)


class CronEntry(BaseModel):
    """A periodic job and when it next runs."""

    name: str
    next_run_at: datetime
    task_name: str | None = None
    queue: str | None = None
    schedule: str | None = Field(default=None, description="the schedule, as people read it")


class ScheduledJobs(BaseModel):
    jobs: list[ScheduledJob]
    cron: list[CronEntry]


class QueueLength(BaseModel):
    queue: str
    ready: int
    deferred: int
    running: int


class Percentiles(BaseModel):
    """Seconds; None when the window has no finished job to measure."""

    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    count: int = 0


class ThroughputPoint(BaseModel):
    start: datetime
    jobs_per_minute: float


class Statistics(BaseModel):
    """Jobs over a window that ends now.

    `by_status` counts the jobs that finished in the window by their final status, and the jobs
    now pending, scheduled, started or retrying (whenever they were created). `by_task` and
    `by_queue` count finished jobs per final status. Throughput is finished jobs per minute, as a
    series of `bucket_s` buckets and as an average. The failure rate is failures over successes
    plus failures (a cancelled job did not fail). Run time is completed minus started (the last
    try); wait time is started minus when the try was due (created, eta or retry time).
    """

    window_s: float
    since: datetime
    until: datetime
    by_status: dict[JobStatus, int]
    by_task: dict[str, dict[JobStatus, int]]
    by_queue: dict[str, dict[JobStatus, int]]
    finished: int
    throughput_per_minute: float
    throughput: list[ThroughputPoint]
    bucket_s: int
    failure_rate: float | None
    runtime: Percentiles
    wait_time: Percentiles


_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_WINDOW = timedelta(days=366)


def parse_window(window: timedelta | str | float) -> timedelta:
    """A window from a timedelta, seconds, or text such as "90s", "15m", "1h", "24h", "7d"."""
    if isinstance(window, timedelta):
        parsed = window
    elif isinstance(window, int | float):
        parsed = timedelta(seconds=window)
    else:
        match = _WINDOW.match(window.lower())
        if match is None:
            raise InvalidInput(f"window {window!r} is not like 15m, 1h, 24h or 7d")
        parsed = timedelta(seconds=float(match[1]) * _UNIT_S[match[2]])
    if not timedelta(0) < parsed <= MAX_WINDOW:
        raise InvalidInput("the window must be longer than 0 and at most a year")
    return parsed


def bucket_seconds(window: timedelta, max_points: int = 360) -> int:
    """Whole minutes per throughput bucket, so a window gives at most about `max_points` points."""
    minutes = max(1, -(-int(window.total_seconds()) // (60 * max_points)))
    return minutes * 60
