"""Webhook jobs: one delivery attempt (each retry a deferred job of its own), and the sweeper."""

from __future__ import annotations

from typing import Any

import asyncpg

from voicepipe.engine.cron import cron
from voicepipe.engine.registry import JobContext, task
from voicepipe.errors import DependencyUnavailable
from voicepipe.services.notifications import webhook_delivery

# PostgreSQL or Redis away for a moment: run the job again (the attempt itself is never retried
# this way: an answer the endpoint gave is logged and scheduled by the delivery's own schedule).
UNAVAILABLE = (DependencyUnavailable, OSError, asyncpg.PostgresConnectionError)


@task(queue="default", max_retries=5, autoretry_for=UNAVAILABLE, time_limit_s=120)
async def deliver_webhook(ctx: JobContext, delivery_id: int, step: int) -> dict[str, Any]:
    """Attempt `step` of a webhook delivery (0: a redelivery asked for through the API)."""
    did = await webhook_delivery.attempt_delivery(
        ctx.resources, delivery_id, step, ctx.job_id, ctx.worker_id
    )
    return {"delivery_id": delivery_id, "step": step, "did": did}


@task(queue="maintenance", max_retries=0)
async def sweep_webhook_deliveries(ctx: JobContext) -> dict[str, Any]:
    """Enqueue the due deliveries a crash left without a job."""
    return {"enqueued": await webhook_delivery.sweep_deliveries(ctx.resources)}


cron(sweep_webhook_deliveries, second=30)  # every minute
