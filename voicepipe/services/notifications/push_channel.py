"""The push channel: planned deliveries of notifications, delivering one, and sweeping up
deliveries whose job was never queued."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
import asyncpg

from voicepipe.db import push as push_db
from voicepipe.db.push import PendingPush
from voicepipe.domain.notifications import Notification
from voicepipe.engine.broker import JobSpec
from voicepipe.engine.registry import broker_for, get_task
from voicepipe.push import (
    Push,
    PushError,
    SubscriptionGone,
    SubscriptionKeys,
    build_payload,
    send_push,
    topic_for,
    urgency_for,
)
from voicepipe.resources import Resources
from voicepipe.services.notifications.push_subscriptions import vapid_keys
from voicepipe.settings import Settings

TTL_S = 86_400  # a push still undelivered after a day is stale news
SEND_TIMEOUT_S = 15.0
SWEEP_AFTER_S = 120.0  # a delivery's job is queued right after its commit; later means a crash
SWEEP_BATCH = 1000

Outcome = Literal["delivered", "gone", "failed", "retry", "skipped"]


@dataclass(frozen=True)
class Delivery:
    """What one attempt came to; `retry`: a transient failure the job should try again."""

    outcome: Outcome
    status: int | None = None
    error: str | None = None
    retry_after_s: float | None = None

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def job_id_for(delivery_id: int) -> str:
    """The delivery job's id names its delivery: queuing it twice runs it once."""
    return f"push:{delivery_id}"


async def plan(
    conn: asyncpg.Connection, resources: Resources, sent: list[Notification]
) -> list[JobSpec]:
    """Store the push deliveries of `sent` and return the jobs that deliver them."""
    delivery_ids = await push_db.plan_deliveries(conn, [n.id for n in sent if n.id is not None])
    return _specs(resources, delivery_ids)


def _specs(resources: Resources, delivery_ids: list[int]) -> list[JobSpec]:
    if not delivery_ids:
        return []
    deliver = get_task("deliver_push")  # registered by voicepipe.tasks (web and worker import it)
    return [deliver.spec(resources, {"delivery_id": i}, job_id=job_id_for(i)) for i in delivery_ids]


def notification_url(settings: Settings, job_id: str | None) -> str:
    """Where clicking the notification leads: the job's page, or the site."""
    base = settings.site_url
    return f"{base}/admin/jobs/{quote(job_id, safe='')}" if job_id else f"{base}/"


def _push_of(settings: Settings, pending: PendingPush) -> Push:
    payload = build_payload(
        pending.title, pending.message, pending.level,
        notification_url(settings, pending.job_id), pending.notification_id,
    )  # fmt: skip
    # one topic per job: a job's newer news replaces its older news still waiting for a browser
    topic = topic_for(f"job:{pending.job_id}") if pending.job_id else None
    return Push(payload, TTL_S, urgency_for(pending.level), topic)


async def deliver(resources: Resources, delivery_id: int, last_try: bool) -> Delivery:
    """Send one delivery's push, once; a transient failure on `last_try` fails it for good."""
    db, settings = resources.db, resources.settings
    pending = await push_db.pending_push(db, delivery_id)
    if pending is None or pending.status != "pending":
        # its subscription was deleted, or a run before this one finished it
        return Delivery("skipped", error=None if pending else "the subscription is gone")
    subscription = SubscriptionKeys(pending.endpoint, pending.p256dh, pending.auth)
    keys = await vapid_keys(resources)
    try:
        async with aiohttp.ClientSession() as session:
            status = await send_push(
                session, subscription, _push_of(settings, pending), keys,
                settings.vapid_subject, settings.webhook_allow_private, SEND_TIMEOUT_S,
            )  # fmt: skip
    except SubscriptionGone as exc:
        await push_db.delete_subscription(db, pending.subscription_id, None)
        return Delivery("gone", exc.status, str(exc))
    except PushError as exc:
        retry = exc.transient and not last_try
        await push_db.record_attempt(
            db, delivery_id, "pending" if retry else "failed", exc.status, str(exc)
        )
        return Delivery("retry" if retry else "failed", exc.status, str(exc), exc.retry_after_s)
    await push_db.record_attempt(db, delivery_id, "delivered", status, None)
    return Delivery("delivered", status)


async def sweep(resources: Resources) -> dict[str, int]:
    """Queue the jobs of deliveries still pending long after they were stored (their job ids
    are fixed, so a job still queued or retrying is not queued twice); fail those past TTL."""
    expired = await push_db.expire_pending(resources.db, TTL_S)
    stale = await push_db.stale_pending(resources.db, SWEEP_AFTER_S, SWEEP_BATCH)
    specs = _specs(resources, stale)
    queued = await broker_for(resources).enqueue(specs) if specs else []
    return {"requeued": sum(queued), "expired": expired}
