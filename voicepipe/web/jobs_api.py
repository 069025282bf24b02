"""Handlers of the /api/jobs endpoints: parse (done by the route), call a service, return a model.

A caller who is not an admin sees only the jobs they own; anyone else's job is 404 to them.
"""

from __future__ import annotations

from voicepipe import errors
from voicepipe.domain.job_info import JobFilters, JobInfo, PageRequest
from voicepipe.domain.job_views import ScheduledJobs, Statistics
from voicepipe.domain.jobs import JobPriority, JobStatus
from voicepipe.engine.heartbeats import get_workers
from voicepipe.history import monitoring
from voicepipe.services import submit
from voicepipe.web.api import Call
from voicepipe.web.models import (
    ActiveJobs,
    Enqueued,
    EnqueueRequest,
    JobDetail,
    JobListQuery,
    JobPageOut,
    PageQuery,
    Queues,
    StatisticsQuery,
    WorkerInfo,
    Workers,
)


def _owner(call: Call) -> int | None:
    """The owner whose jobs the caller may see; None means every job (an admin)."""
    return None if call.is_admin else call.caller.id


def _visible(call: Call, job: JobInfo | None, task_id: str) -> JobInfo:
    if job is None or (not call.is_admin and job.owner_id != call.caller.id):
        raise errors.NotFound(f"no job {task_id}")
    return job


async def job_info(call: Call) -> JobDetail:
    task_id = call.path["task_id"]
    job = _visible(call, await monitoring.get_job_info(call.resources, task_id), task_id)
    timeline = await monitoring.get_job_timeline(call.resources, task_id)
    return JobDetail(**dict(job), timeline=timeline)


async def list_jobs(call: Call) -> JobPageOut:
    query: JobListQuery = call.query
    filters = JobFilters(
        statuses=query.status, queue=query.queue, task_name=query.task, search=query.q,
        created_after=query.created_after, created_before=query.created_before, owner_id=_owner(call),
    )  # fmt: skip
    page = await monitoring.list_jobs(call.resources, filters, _page(query))
    return JobPageOut(items=page.items, next_cursor=page.next_cursor)


async def failed_jobs(call: Call) -> JobPageOut:
    page = await monitoring.get_failed_tasks(call.resources, _page(call.query), _owner(call))
    return JobPageOut(items=page.items, next_cursor=page.next_cursor)


def _page(query: PageQuery) -> PageRequest:
    return PageRequest(limit=query.limit, cursor=query.cursor)


async def active_jobs(call: Call) -> ActiveJobs:
    jobs = await monitoring.get_active_jobs(call.resources)
    owner = _owner(call)
    return ActiveJobs(jobs=[j for j in jobs if owner is None or j.owner_id == owner])


async def scheduled_jobs(call: Call) -> ScheduledJobs:
    scheduled = await monitoring.get_scheduled_jobs(call.resources)
    owner = _owner(call)
    if owner is None:
        return scheduled
    # Cron entries belong to the system, and jobs waiting in Redis carry no owner: PostgreSQL knows.
    owned = await monitoring.owned_job_ids(
        call.resources, [j.task_id for j in scheduled.jobs], owner
    )
    return ScheduledJobs(jobs=[j for j in scheduled.jobs if j.task_id in owned], cron=[])


async def statistics(call: Call) -> Statistics:
    query: StatisticsQuery = call.query
    return await monitoring.get_statistics(call.resources, query.window, owner_id=_owner(call))


async def workers(call: Call) -> Workers:
    heartbeats = await get_workers(call.resources.redis)
    return Workers(workers=[WorkerInfo.model_validate(h) for h in heartbeats])


async def queues(call: Call) -> Queues:
    return Queues(queues=await monitoring.get_queue_lengths(call.resources))


async def enqueue(call: Call) -> Enqueued:
    body: EnqueueRequest = call.body
    handle = await submit.enqueue_by_name(
        call.resources,
        body.task, body.kwargs, owner_id=call.caller.id, queue=body.queue,
        priority=JobPriority[body.priority], countdown_s=body.countdown_s,
    )  # fmt: skip
    status = JobStatus.SCHEDULED if body.countdown_s else JobStatus.PENDING
    return Enqueued(
        task_id=handle.job_id, task_name=handle.task_name, queue=handle.queue, status=status
    )
