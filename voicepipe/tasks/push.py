"""`deliver_push`: one web push to one browser, retried with backoff while the push service
cannot take it; and the sweeper for deliveries whose job was never queued."""

from __future__ import annotations

from typing import Any

from voicepipe.domain.jobs import backoff_delay_s
from voicepipe.engine.cron import cron
from voicepipe.engine.registry import JobContext, task
from voicepipe.services.notifications import push_channel

MAX_RETRIES = 5
RETRY_BACKOFF_MAX_S = 600.0
MAX_RETRY_AFTER_S = 3600.0  # a push service asking for longer still gets retried within an hour


@task(queue="default", max_retries=MAX_RETRIES)
async def deliver_push(ctx: JobContext, delivery_id: int) -> dict[str, Any]:
    """A transient failure (429, 5xx, no connection) runs the job again after a backoff, or
    after the push service's Retry-After if longer; the last try, a permanent failure or a gone
    subscription end it without failing the job (the delivery records why), so a broken push
    service never turns into failure notifications that are pushed in turn."""
    outcome = await push_channel.deliver(ctx.resources, delivery_id, last_try=ctx.retries_left == 0)
    if outcome.outcome == "retry":
        delay_s = backoff_delay_s(
            ctx.try_number, ctx.resources.settings.job_retry_delay_s, RETRY_BACKOFF_MAX_S
        )
        if outcome.retry_after_s is not None:
            delay_s = max(delay_s, min(outcome.retry_after_s, MAX_RETRY_AFTER_S))
        raise ctx.retry(countdown_s=delay_s, reason=outcome.error or "push not accepted yet")
    return outcome.summary()


@task(queue="maintenance", max_retries=2)
async def sweep_push_deliveries(ctx: JobContext) -> dict[str, int]:
    """Queue deliveries left pending by a crash between their commit and their job's enqueue."""
    return await push_channel.sweep(ctx.resources)


cron(sweep_push_deliveries, minute=set(range(0, 60, 5)))  # every 5 min
