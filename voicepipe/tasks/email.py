"""The email digest job, and the sweeper that queues digests whose job was lost."""

from __future__ import annotations

from typing import Any

from voicepipe.engine.cron import cron
from voicepipe.engine.registry import JobContext, task
from voicepipe.services.notifications import email_channel


# 8 retries with backoff capped at 10 min: an SMTP server down for about an hour loses nothing;
# after that the sweeper queues the digest again once its failed job's result has expired.
@task(
    queue="default", name=email_channel.DIGEST_TASK, max_retries=8, retry_backoff_max_s=600,
    autoretry_for=email_channel.RETRY_ON, soft_time_limit_s=60, time_limit_s=90,
)  # fmt: skip
async def send_email_digest(ctx: JobContext, recipient_id: int) -> dict[str, Any]:
    """Mail one recipient everything pending for them, once their digest window has passed."""
    return await email_channel.send_digest(ctx.resources, recipient_id, ctx.job_id)


@task(queue="maintenance", max_retries=0)
async def sweep_email_digests(ctx: JobContext) -> dict[str, Any]:
    """Queue the digests of recipients whose mail waits past its window (a lost enqueue)."""
    return {"queued": await email_channel.sweep(ctx.resources)}


cron(sweep_email_digests, second=0)  # every minute: the net under the planner's enqueue
