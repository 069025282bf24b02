"""Handlers of the admin job-control endpoints: cancel, terminate, retry, purge, restart, events."""

from __future__ import annotations

from voicepipe.domain.job_info import JobFilters
from voicepipe.services import control
from voicepipe.services.control import ActionResult
from voicepipe.web.api import Call
from voicepipe.web.models import (
    ActionRequest,
    EventsState,
    Purged,
    PurgeRequest,
    Restarted,
    RetriedFailed,
    RetryFailedRequest,
)


async def job_action(call: Call) -> ActionResult:
    body: ActionRequest = call.body
    task_id = call.path["task_id"]
    if body.action == "cancel":
        return await control.cancel(call.resources, task_id)
    if body.action == "terminate":
        return await control.terminate(call.resources, task_id)
    return await control.retry(call.resources, task_id, body.countdown or 0.0)


async def retry_failed(call: Call) -> RetriedFailed:
    body: RetryFailedRequest = call.body
    outcome = await control.retry_matching(call.resources, JobFilters(), body.countdown or 0.0)
    return RetriedFailed(new_job_ids=outcome.new_job_ids)


async def purge_queue(call: Call) -> Purged:
    body: PurgeRequest = call.body
    return Purged(queue=body.queue, purged=await control.purge_queue(call.resources, body.queue))


async def restart_workers(call: Call) -> Restarted:
    return Restarted(workers=await control.restart_workers(call.resources))


async def enable_events(call: Call) -> EventsState:
    await control.enable_events(call.resources)
    return EventsState(enabled=True)


async def disable_events(call: Call) -> EventsState:
    await control.disable_events(call.resources)
    return EventsState(enabled=False)
