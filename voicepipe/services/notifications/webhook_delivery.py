"""One attempt at a webhook delivery, what follows from it (retry, disable, tell the owner), and
the sweeper that enqueues deliveries a crash left without a job."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg

from voicepipe.db import webhooks as webhooks_db
from voicepipe.db.webhooks import DeliveryTarget
from voicepipe.engine.registry import broker_for
from voicepipe.resources import Resources
from voicepipe.services.notifications.send import send_notification
from voicepipe.services.notifications.webhook_channel import delivery_spec, job_id_of
from voicepipe.webhooks import RETRY_SCHEDULE_S, Attempt, WebhookTargetRefused, deliver
from voicepipe.webhooks.send import next_delay_s
from voicepipe.webhooks.signing import payload

log = logging.getLogger(__name__)

SWEEP_LIMIT = 1000  # deliveries re-enqueued per sweep; the next sweep takes the rest
_rng = random.Random()


async def attempt_delivery(
    resources: Resources,
    delivery_id: int,
    step: int,
    job_id: str,
    worker: str,
    schedule_s: Sequence[float] = RETRY_SCHEDULE_S,
    now: datetime | None = None,
    rng: random.Random = _rng,
) -> str:
    """Make the attempt job `job_id` stands for (scheduled `step`, or 0: a redelivery) and plan
    what follows; returns what happened. A job that is no longer the delivery's next (it was
    delivered, or this is a duplicate) does nothing; so does one whose endpoint is disabled."""
    now = now or datetime.now(UTC)
    target = await webhooks_db.target_of(resources.db, delivery_id)
    if target is None:
        return "gone: the endpoint was deleted"
    if target.status != "pending" or target.next_job_id != job_id:
        return f"not due: the delivery is {target.status}"
    if not target.active:
        await webhooks_db.skip_delivery(resources.db, delivery_id)
        return "skipped: the endpoint is disabled"
    attempt_id = await webhooks_db.start_attempt(resources.db, delivery_id, job_id, worker, now)
    attempt = await _post(resources, target)
    finished_at = now + timedelta(milliseconds=attempt.latency_ms)
    delay_s = None
    if attempt.outcome == "retry" and step > 0:  # a redelivery (step 0) is one attempt
        delay_s = next_delay_s(step, attempt.retry_after_s, rng, schedule_s)
    async with resources.db.acquire() as conn, conn.transaction():
        disabled = await _endpoint_after(conn, resources, target, attempt, finished_at)
        if disabled is not None:
            delay_s = None
        next_job = job_id_of(delivery_id, step + 1) if delay_s is not None else None
        next_at = finished_at + timedelta(seconds=delay_s) if delay_s is not None else None
        await webhooks_db.finish_attempt(
            conn, attempt_id, attempt.outcome, attempt.status, attempt.latency_ms, attempt.answer,
            attempt.error, finished_at,
        )  # fmt: skip
        status = (
            "delivered" if attempt.outcome == "delivered" else "pending" if next_job else "failed"
        )
        await webhooks_db.record_outcome(
            conn, delivery_id, status, attempt.status, attempt.error, next_job, next_at, finished_at
        )  # fmt: skip
    # A crash here leaves the next attempt pending and due at `next_at`: the sweeper enqueues it.
    if next_job is not None:
        spec = delivery_spec(resources, delivery_id, next_job, next_at)
        await broker_for(resources).enqueue([spec])
    if disabled is not None:
        await _tell_owner(resources, target, disabled, finished_at)
    return f"{attempt.outcome}: {attempt.error or attempt.status}"


async def _endpoint_after(
    conn: asyncpg.Connection, resources: Resources, target: DeliveryTarget, attempt: Attempt,
    at: datetime,
) -> str | None:  # fmt: skip
    """Note the attempt on the endpoint; why it was disabled now, if it was (410 Gone, or every
    delivery failing for VOICEPIPE_WEBHOOK_DISABLE_AFTER_S)."""
    if attempt.outcome == "delivered":
        await webhooks_db.endpoint_succeeded(conn, target.endpoint_id)
        return None
    reason = None
    if attempt.outcome == "gone":
        reason = "it answered 410 Gone"
    else:
        since = await webhooks_db.endpoint_failed(conn, target.endpoint_id, at)
        failing_s = (at - since).total_seconds()
        if failing_s >= resources.settings.webhook_disable_after_s:
            reason = f"every delivery failed for {failing_s / 3600:.0f} h"
    if reason is None or not await webhooks_db.disable_endpoint(
        conn, target.endpoint_id, reason, at
    ):
        return None
    return reason


async def _post(resources: Resources, target: DeliveryTarget) -> Attempt:
    body = payload(target.event, target.payload, target.created_at)
    allow_private = resources.settings.webhook_allow_private
    async with aiohttp.ClientSession() as session:
        try:
            return await deliver(
                session, target.url, target.secret, target.msg_id, body, allow_private
            )
        except WebhookTargetRefused as exc:  # its DNS now names an internal address
            return Attempt("retry", None, 0.0, "", str(exc))


async def _tell_owner(
    resources: Resources, target: DeliveryTarget, reason: str, at: datetime
) -> None:
    if target.owner_id is None:
        return
    await send_notification(
        resources, "Webhook endpoint disabled",
        f"Your webhook endpoint {target.url} was disabled: {reason}. Register it again once it "
        "answers with a 2xx.",
        level="warning", channels=["database", "redis", "email"], recipient_id=target.owner_id,
        data={"webhook_id": target.endpoint_id, "url": target.url, "reason": reason},
        dedupe_key=f"webhook-disabled:{target.endpoint_id}:{at.isoformat()}",
    )  # fmt: skip


async def sweep_deliveries(resources: Resources, now: datetime | None = None) -> int:
    """Enqueue again the jobs of pending deliveries that are due (a crash between the commit
    that planned them and their enqueue lost them); a job still queued, running or done is not
    queued twice (same id). Returns how many were enqueued."""
    due = await webhooks_db.due_deliveries(resources.db, now or datetime.now(UTC), SWEEP_LIMIT)
    if not due:
        return 0
    specs = [delivery_spec(resources, d, job_id, at) for d, job_id, at in due]
    accepted = sum(await broker_for(resources).enqueue(specs))
    if accepted:
        log.info("enqueued %d webhook deliveries that had no job", accepted)
    return accepted
