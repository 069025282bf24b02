"""The webhook channel: which endpoints a notification or a job event goes to, its deliveries,
and the jobs that make them.

Event types: a notification is `notification.<level>` (its data: the notification), a job that
finished is `job.success` or `job.failure` (its data: the job's recorded info, without the
traceback). An endpoint's `events` name types or the patterns `*`, `notification.*`, `job.*`.
A user's endpoints get that user's notifications; job events go to admins' endpoints only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from voicepipe.db import jobs as jobs_db
from voicepipe.db import webhooks as webhooks_db
from voicepipe.domain.notifications import LEVELS, Notification
from voicepipe.engine.broker import JobSpec
from voicepipe.engine.registry import broker_for, get_task
from voicepipe.resources import Resources

log = logging.getLogger(__name__)

NOTIFICATION_EVENTS = tuple(f"notification.{level}" for level in LEVELS)
JOB_EVENTS = ("job.success", "job.failure")
PATTERNS = ("*", "notification.*", "job.*")
DEFAULT_EVENTS = ("notification.*",)
# Delivering a webhook is a job too: its own events must not make deliveries, or they never end.
SILENT_TASKS = frozenset({"deliver_webhook", "sweep_webhook_deliveries"})
SUBSCRIBERS_TTL_S = 5.0  # a recorder batch asks PostgreSQL who takes job events this rarely
DELIVER_TASK = "deliver_webhook"

# database URL -> (monotonic time loaded, [(endpoint id, events)]) of admins' job-event endpoints
_subscribers: dict[str, tuple[float, list[tuple[int, list[str]]]]] = {}


def matches(patterns: Sequence[str], event: str) -> bool:
    """Whether an endpoint subscribed to `patterns` takes `event`."""
    return any(
        p == "*" or p == event or (p.endswith(".*") and event.startswith(p[:-1])) for p in patterns
    )


def job_id_of(delivery_id: int, step: int) -> str:
    """The job of the `step`th scheduled attempt (deterministic: queued twice, it runs once)."""
    return f"webhook:{delivery_id}:{step}"


def delivery_spec(
    resources: Resources, delivery_id: int, job_id: str, eta: datetime | None = None
) -> JobSpec:
    """The job `job_id` of a delivery: a scheduled step `webhook:<id>:<n>`, or a redelivery
    `webhook:<id>:redeliver:<k>` (step 0: one attempt, not retried)."""
    step = 0 if ":redeliver:" in job_id else int(job_id.rsplit(":", 1)[1])
    return get_task(DELIVER_TASK).spec(
        resources, {"delivery_id": delivery_id, "step": step}, job_id=job_id, eta=eta,
        metadata={"webhook_delivery": delivery_id},
    )  # fmt: skip


async def plan(
    conn: asyncpg.Connection, resources: Resources, sent: list[Notification]
) -> list[JobSpec]:
    """Store one delivery per notification and active endpoint of its recipient that takes its
    level, and return the jobs that deliver them."""
    endpoints = await webhooks_db.active_endpoints_of(conn, {n.recipient_id for n in sent})
    rows = []
    for notification in sent:
        event = f"notification.{notification.level}"
        data = notification.model_dump(mode="json")
        rows += [
            (endpoint_id, notification.id, event, data, f"notification:{notification.id}")
            for endpoint_id, owner_id, events in endpoints
            if owner_id == notification.recipient_id and matches(events, event)
        ]
    stored = await webhooks_db.insert_deliveries(conn, rows)
    return [delivery_spec(resources, delivery_id, job_id) for delivery_id, job_id in stored]


async def queue_job_event_deliveries(
    resources: Resources, finished: Sequence[tuple[str, str, str]]
) -> int:
    """Deliveries of the recorder's finished jobs (job id, task, status) to the admins'
    endpoints subscribed to them, enqueued; returns how many. Runs again for a batch recorded
    twice: a job event reaches each endpoint once (the dedupe key), and what a crash kept from
    being enqueued the sweeper enqueues."""
    wanted = [(j, f"job.{status}") for j, task, status in finished if task not in SILENT_TASKS]
    if not wanted:
        return 0
    subscribers = await _job_event_subscribers(resources)
    pairs = [
        (endpoint_id, job_id, event)
        for job_id, event in wanted
        for endpoint_id, events in subscribers
        if matches(events, event)
    ]
    if not pairs:
        return 0
    infos = await jobs_db.jobs_by_ids(resources.db, list({job_id for _, job_id, _ in pairs}))
    rows: list[tuple[int, int | None, str, dict[str, Any], str]] = [
        (endpoint_id, None, event, infos[job_id].model_dump(mode="json", exclude={"traceback"}),
         f"{event}:{job_id}")
        for endpoint_id, job_id, event in pairs
        if job_id in infos
    ]  # fmt: skip
    async with resources.db.acquire() as conn:
        stored = await webhooks_db.insert_deliveries(conn, rows)
    if stored:
        specs = [delivery_spec(resources, delivery_id, job_id) for delivery_id, job_id in stored]
        await broker_for(resources).enqueue(specs)
    return len(stored)


async def _job_event_subscribers(resources: Resources) -> list[tuple[int, list[str]]]:
    key = resources.settings.database_url or ""
    cached = _subscribers.get(key)
    if cached is not None and time.monotonic() - cached[0] < SUBSCRIBERS_TTL_S:
        return cached[1]
    found = await webhooks_db.admin_endpoints_for(resources.db, ["*", "job.*", *JOB_EVENTS])
    _subscribers[key] = (time.monotonic(), found)
    return found


def forget_subscribers(resources: Resources) -> None:
    """Drop this process's cached job-event subscribers (an endpoint was added or removed)."""
    _subscribers.pop(resources.settings.database_url or "", None)
