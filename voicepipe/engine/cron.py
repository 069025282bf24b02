"""Periodic jobs: declared once with an arq-style schedule, enqueued once per due time by any worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from arq.cron import next_cron

from voicepipe import keys
from voicepipe.domain.job_views import CronEntry
from voicepipe.engine.broker import EXPIRES_EXTRA_MS
from voicepipe.engine.registry import Task, broker_for
from voicepipe.errors import ConfigError
from voicepipe.resources import Resources

Field = int | set[int] | None


@dataclass(frozen=True)
class CronJob:
    """`task` runs whenever the clock (UTC) matches the given fields; None matches every value."""

    name: str
    task: Task
    month: Field = None
    day: Field = None
    weekday: Field = None
    hour: Field = None
    minute: Field = None
    second: Field = 0
    kwargs: dict[str, Any] = field(default_factory=dict)

    def next_run(self, after: datetime) -> datetime:
        fields = {
            k: getattr(self, k) for k in ("month", "day", "weekday", "hour", "minute", "second")
        }
        return next_cron(after.astimezone(UTC), microsecond=0, **fields)

    def describe(self) -> str:
        parts = [
            f"{k}={_show(getattr(self, k))}"
            for k in ("month", "day", "weekday", "hour", "minute", "second")
        ]
        return " ".join(p for p in parts if not p.endswith("=*"))

    def entry(self, next_run_at: datetime) -> CronEntry:
        return CronEntry(
            name=self.name, next_run_at=next_run_at, task_name=self.task.name, queue=self.task.queue,
            schedule=self.describe(),
        )  # fmt: skip


CRON_JOBS: dict[str, CronJob] = {}


def cron(task: Task, *, name: str | None = None, **schedule: Any) -> CronJob:
    """Declare that `task` runs on a schedule (fields as in arq.cron: hour={0, 6}, minute=0, …)."""
    job = CronJob(name=name or task.name, task=task, **schedule)
    if job.name in CRON_JOBS:
        raise ConfigError(f"cron job {job.name!r} is declared twice")
    CRON_JOBS[job.name] = job
    return job


async def fire(resources: Resources, job: CronJob, run_at: datetime) -> bool:
    """Enqueue `job` for its run at `run_at` unless some worker did already; True if this call did."""
    run_ms = int(run_at.timestamp() * 1000)
    won = await resources.redis.set(
        keys.cron_run(job.name, run_ms), b"1", nx=True, px=EXPIRES_EXTRA_MS
    )
    if not won:
        return False
    spec = job.task.spec(
        resources, dict(job.kwargs), job_id=f"cron:{job.name}:{run_ms}", metadata={"cron": job.name}
    )
    try:
        (accepted,) = await broker_for(resources).enqueue([spec])
    except Exception:  # not queued (Redis refused it): another try may fire this run
        await resources.redis.delete(keys.cron_run(job.name, run_ms))
        raise
    return accepted


def _show(value: Field) -> str:
    if value is None:
        return "*"
    if isinstance(value, set):
        return ",".join(str(v) for v in sorted(value))
    return str(value)
