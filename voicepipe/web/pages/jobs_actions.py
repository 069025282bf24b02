"""What the Job page's buttons do: cancel, terminate and retry through services.control, each
with the statuses that allow it, its question and what it says once done."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from voicepipe.domain.job_info import JobInfo
from voicepipe.domain.jobs import TERMINAL, JobStatus
from voicepipe.history import monitoring
from voicepipe.resources import Resources
from voicepipe.services import control

RECORDED_WAIT_S = 1.5  # how long an action waits for the history to show what it did


@dataclass(frozen=True)
class Action:
    """One of the job's buttons: what it asks, what it says, which statuses allow it."""

    name: str
    label: str
    question: str  # with {job_id}
    detail: str
    allowed: frozenset[JobStatus]
    run: Callable[[Resources, str], Awaitable[str]]


async def _cancel(resources: Resources, job_id: str) -> str:
    done = await control.cancel(resources, job_id)
    if done.outcome == "stopping":
        return f"Job {job_id} is being cancelled: it stops at its next await point."
    await _until_recorded(resources, job_id, lambda job: job is not None and job.status in TERMINAL)
    return f"Job {job_id} cancelled."


async def _terminate(resources: Resources, job_id: str) -> str:
    done = await control.terminate(resources, job_id)
    if done.outcome == "stopping":
        return f"Job {job_id} is being terminated."
    await _until_recorded(resources, job_id, lambda job: job is not None and job.status in TERMINAL)
    return f"Job {job_id} terminated."


async def _retry(resources: Resources, job_id: str) -> str:
    done = await control.retry(resources, job_id)
    new_id = done.new_job_id or ""
    await _until_recorded(resources, new_id, lambda job: job is not None)
    return f"Job {job_id} retried as job {new_id}."


async def _until_recorded(
    resources: Resources, job_id: str, done: Callable[[JobInfo | None], bool]
) -> None:
    """Give the recorder (a worker's, usually a few milliseconds behind) a moment to fold what the
    action did: the page the reader goes back to then shows it, and its live feed, which opens
    after the event went by, has nothing to catch up with. Bounded: no worker, no recorder."""
    deadline = time.monotonic() + RECORDED_WAIT_S
    delay_s = 0.005
    while not done(await monitoring.get_job_info(resources, job_id)):
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(delay_s)
        delay_s = min(delay_s * 2, 0.1)


ACTIONS = {
    a.name: a
    for a in (
        Action("cancel", "Cancel", "Cancel job {job_id}?",
               "A waiting job never runs; a running one stops at its next await point and its cleanup runs.",
               frozenset({JobStatus.PENDING, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.RETRY}),
               _cancel),
        Action("terminate", "Terminate", "Terminate job {job_id}?",
               "The job is stopped at once, its CPU work killed; its cleanup may not run.",
               frozenset({JobStatus.STARTED}), _terminate),
        Action("retry", "Retry", "Retry job {job_id}?",
               "It runs again with the same arguments, as a new job.",
               frozenset({JobStatus.FAILURE, JobStatus.CANCELLED}), _retry),
    )
}  # fmt: skip
