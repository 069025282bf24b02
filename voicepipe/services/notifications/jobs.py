"""Job notifications: a job that failed for good tells its owner (the admins when it has none);
a task may declare that its success notifies too, its result's "summary" being the message.
Retries do not notify (they show live), nor do the jobs of a batch one by one (the batch tells
its end: voicepipe.services.batches)."""

from __future__ import annotations

import logging
from collections.abc import Collection

from voicepipe.db import batches as batches_db
from voicepipe.db import jobs as jobs_db
from voicepipe.domain.job_info import JobInfo
from voicepipe.domain.notifications import Level, Notification, job_level
from voicepipe.resources import Resources
from voicepipe.services.notifications.send import send_notification

log = logging.getLogger(__name__)


async def send_job_notification(
    resources: Resources,
    job_id: str,
    job_name: str,
    status: str,
    message: str,
    level: Level | None = None,
    owner_id: int | None = None,
) -> list[Notification]:
    """Tell the job's owner (every admin when it has none) that it reached `status`, once per
    recipient however often this is called for the same job and status."""
    return await send_notification(
        resources, f"{job_name} {_said(status)}", message, level or job_level(status),
        recipient_id=owner_id, recipient_type="user" if owner_id is not None else "admin",
        job_id=job_id, data={"job_name": job_name, "status": status},
        dedupe_key=f"job:{job_id}:{status}",
    )  # fmt: skip


async def notify_finished_jobs(
    resources: Resources, job_ids: Collection[str], notify_success: Collection[str] = ()
) -> int:
    """The notifications the recorded jobs `job_ids` call for: failures always, successes of the
    tasks named in `notify_success`. Returns how many were sent."""
    infos = await jobs_db.jobs_by_ids(resources.db, list(job_ids))
    wanted = [
        info for info in infos.values()
        if info.status == "failure" or (info.status == "success" and info.task_name in notify_success)
    ]  # fmt: skip
    batch_ids = [info.batch_id for info in wanted if info.batch_id is not None]
    batched = await batches_db.existing(resources.db, batch_ids) if batch_ids else set()
    sent = 0
    for info in wanted:
        if info.batch_id not in batched:
            sent += len(await _notify(resources, info))
    return sent


async def _notify(resources: Resources, info: JobInfo) -> list[Notification]:
    failed = info.status == "failure"
    message = (info.error or "the job failed") if failed else _summary(info.result)
    return await send_job_notification(
        resources, info.task_id, info.task_name, info.status, message, owner_id=info.owner_id
    )


def _summary(result: object) -> str:
    """What a successful job says about itself: its result's "summary", if it gives one."""
    summary = result.get("summary") if isinstance(result, dict) else None
    return summary if isinstance(summary, str) and summary else "the job finished"


def _said(status: str) -> str:
    return {"failure": "failed", "success": "succeeded", "cancelled": "was cancelled"}.get(
        status, status
    )
