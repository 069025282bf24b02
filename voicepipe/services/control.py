"""Admin job control: cancel, terminate, retry, purge a queue, restart workers, live events on/off.

Running jobs are reached through the control channel (pub/sub, fast) backed by the stop-request
hash (durable: a worker that missed the message finds the request on its next heartbeat, and a job
cancelled while its worker died is dropped when it is claimed again).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from arq.connections import ArqRedis
from pydantic import BaseModel, Field

from voicepipe import keys
from voicepipe.db import dead_letter as dead_letter_db
from voicepipe.domain.job_info import (
    JobFilters,
)
from voicepipe.domain.jobs import JobPriority, JobStatus
from voicepipe.engine import heartbeats, unqueue
from voicepipe.engine.lua import LuaScript
from voicepipe.engine.registry import broker_for, get_task
from voicepipe.errors import Conflict, InvalidInput, NotFound
from voicepipe.history import monitoring
from voicepipe.resources import Resources
from voicepipe.settings import QUEUES

log = logging.getLogger(__name__)

StopHow = Literal["cancel", "terminate"]
STOP_WAIT_S = 5.0
ACK_WAIT_S = 3.0

# KEYS: running hashes of every queue, stop requests   ARGV: job id, how
_REQUEST_STOP = LuaScript(
    """#!lua
for i = 1, #KEYS - 1 do
  if redis.call('HEXISTS', KEYS[i], ARGV[1]) == 1 then
    redis.call('HSET', KEYS[#KEYS], ARGV[1], ARGV[2])
    return i
  end
end
return 0
"""
)


class ActionResult(BaseModel):
    """What an action did: `cancelled`/`terminated` when done, `stopping` if the job is still ending."""

    job_id: str
    action: Literal["cancel", "terminate", "retry"]
    outcome: Literal["cancelled", "terminated", "stopping", "queued"]
    new_job_id: str | None = None


async def cancel(resources: Resources, job_id: str, wait_s: float = STOP_WAIT_S) -> ActionResult:
    """A queued job never runs; a running one is interrupted at an await point and its cleanup runs.

    Waits up to `wait_s` for a running job to end; after that the outcome is `stopping` (the
    request stands: the job is stopped wherever it runs, even after its worker was lost).
    """
    if await unqueue.cancel_queued(resources, job_id, "cancelled by an admin") is not None:
        log.info("cancelled queued job %s", job_id)
        return ActionResult(job_id=job_id, action="cancel", outcome="cancelled")
    return await _stop_running(resources, job_id, "cancel", wait_s)


async def terminate(resources: Resources, job_id: str, wait_s: float = STOP_WAIT_S) -> ActionResult:
    """Stop a running job now: its task is cancelled outright and its CPU child killed."""
    return await _stop_running(resources, job_id, "terminate", wait_s)


async def _stop_running(
    resources: Resources, job_id: str, how: StopHow, wait_s: float
) -> ActionResult:
    redis = resources.redis
    running_keys = [keys.running(q) for q in QUEUES]
    found = await _REQUEST_STOP(redis, [*running_keys, keys.STOP_REQUESTS], [job_id, how])
    if not found:
        await _refuse(resources, job_id, how)
    running_key = running_keys[int(found) - 1]
    await redis.publish(keys.CONTROL, json.dumps({"command": "stop", "job_id": job_id, "how": how}))
    log.info("asked workers to %s job %s", how, job_id)
    deadline = time.monotonic() + wait_s
    delay_s = 0.005
    while await _still_running(redis, running_key, job_id):
        if time.monotonic() > deadline:
            return ActionResult(job_id=job_id, action=how, outcome="stopping")
        await asyncio.sleep(delay_s)
        delay_s = min(delay_s * 2, 0.1)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hdel(keys.STOP_REQUESTS, job_id)
        await pipe.execute()
    done = "cancelled" if how == "cancel" else "terminated"
    return ActionResult(job_id=job_id, action=how, outcome=done)


async def _refuse(resources: Resources, job_id: str, action: str) -> None:
    """Raise the error that says why `action` cannot apply to the job now."""
    info = await monitoring.get_job_info(resources, job_id)
    if info is None:
        raise NotFound(f"no job with id {job_id}")
    if action == "terminate" and info.status in (JobStatus.PENDING, JobStatus.SCHEDULED):
        raise Conflict(f"job {job_id} is {info.status.value}, not running: cancel it instead")
    raise Conflict(f"job {job_id} is {info.status.value}; only queued or running jobs can be "
                   f"{'cancelled' if action == 'cancel' else 'terminated'}")  # fmt: skip


async def retry(resources: Resources, job_id: str, countdown_s: float = 0.0) -> ActionResult:
    """Run a failed or cancelled job again with the same arguments, as a new job linked to it."""
    if countdown_s < 0:
        raise InvalidInput("countdown must be zero or more seconds")
    info = await monitoring.get_job_info(resources, job_id)
    if info is None:
        raise NotFound(f"no job with id {job_id}")
    if info.status not in (JobStatus.FAILURE, JobStatus.CANCELLED):
        raise Conflict(
            f"job {job_id} is {info.status.value}; only failed or cancelled jobs can be retried"
        )
    task = get_task(info.task_name)
    new_id = uuid.uuid4().hex
    spec = task.spec(
        resources, info.args, priority=JobPriority(info.priority), job_id=new_id, queue=info.queue,
        countdown_s=countdown_s or None, owner_id=info.owner_id, parent_id=info.parent_id,
        batch_id=info.batch_id, retry_of=job_id, metadata=info.metadata,
    )  # fmt: skip
    # the rerun is queued and the original marked rerun in one script: both or neither
    marker_expiry_s = resources.settings.job_history_days * 86_400
    if not await broker_for(resources).enqueue_rerun(spec, job_id, marker_expiry_s):
        earlier = await resources.redis.get(keys.retried_as(job_id))
        raise Conflict(f"job {job_id} was retried already, as job {_text(earlier)}")
    log.info("retrying job %s as %s", job_id, new_id)
    return ActionResult(job_id=job_id, action="retry", outcome="queued", new_job_id=new_id)


async def purge_queue(resources: Resources, queue: str) -> int:
    """Remove every job waiting in `queue`, each recorded as cancelled; returns how many."""
    if queue not in QUEUES:
        raise InvalidInput(f"unknown queue {queue!r}; queues are {', '.join(QUEUES)}")
    count = await unqueue.purge(resources, queue, f"queue {queue} purged by an admin")
    log.info("purged %d job(s) from queue %s", count, queue)
    return count


async def restart_workers(resources: Resources) -> list[str]:
    """Ask every live worker to restart gracefully; returns the ids of those that acknowledged.

    Each worker lets its running jobs finish within its grace period (or hands them back), then
    exits for its supervisor to start it again.
    """
    redis = resources.redis
    expected = set(await heartbeats.live_worker_ids(redis))
    request_id = uuid.uuid4().hex
    await redis.publish(keys.CONTROL, json.dumps({"command": "restart", "request_id": request_id}))
    deadline = time.monotonic() + ACK_WAIT_S
    acked: set[str] = set()
    while time.monotonic() < deadline:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.smembers(keys.control_acks(request_id))
            (members,) = await pipe.execute()
        acked = {_text(m) for m in members}
        if acked >= expected:
            break
        await asyncio.sleep(0.02)
    log.info("restarting %d worker(s): %s", len(acked), ", ".join(sorted(acked)) or "none")
    return sorted(acked)


async def enable_events(resources: Resources) -> None:
    """Turn live and progress events back on for every worker (and every enqueue)."""
    await _set_events(resources, True)


async def disable_events(resources: Resources) -> None:
    """Stop live and progress traffic; history is still recorded for every job."""
    await _set_events(resources, False)


async def _set_events(resources: Resources, enabled: bool) -> None:
    async with resources.redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.EVENTS_ENABLED, "1" if enabled else "0")
        pipe.publish(keys.CONTROL, json.dumps({"command": "events", "enabled": enabled}))
        await pipe.execute()
    log.info("live events %s", "enabled" if enabled else "disabled")


async def events_enabled(resources: Resources) -> bool:
    return bool(await resources.redis.get(keys.EVENTS_ENABLED) != b"0")


async def _still_running(redis: ArqRedis, running_key: str, job_id: str) -> bool:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hexists(running_key, job_id)
        (running,) = await pipe.execute()
    return bool(running)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RetryOutcome(BaseModel):
    """What retrying several jobs did: the new jobs' ids, the jobs someone retried already (not
    an error: the job runs again either way), and those that could not be retried, with why."""

    new_job_ids: list[str] = Field(default_factory=list)
    already_retried: list[str] = Field(default_factory=list)
    refused: dict[str, str] = Field(default_factory=dict)


MAX_SELECTED = 500  # job ids one "retry selected" takes (a page shows 50)
DEAD_LETTER_PAGE = 500  # rows read at a time while retrying all that match


async def retry_selected(
    resources: Resources, job_ids: Sequence[str], countdown_s: float = 0.0
) -> RetryOutcome:
    """Retry each of `job_ids` (each once, in the order given)."""
    if countdown_s < 0:
        raise InvalidInput("countdown must be zero or more seconds")
    chosen = list(dict.fromkeys(job_ids))
    if not chosen:
        raise InvalidInput("no job was selected")
    if len(chosen) > MAX_SELECTED:
        raise InvalidInput(f"select at most {MAX_SELECTED} jobs at a time, not {len(chosen)}")
    outcome = RetryOutcome()
    for job_id in chosen:
        await _retry_into(resources, job_id, countdown_s, outcome)
    return outcome


async def retry_matching(
    resources: Resources, filters: JobFilters, countdown_s: float = 0.0
) -> RetryOutcome:
    """Retry every dead-letter job matching `filters` (queue, task name, search; JobFilters()
    for all of them)."""
    if countdown_s < 0:
        raise InvalidInput("countdown must be zero or more seconds")
    outcome = RetryOutcome()
    after: tuple[datetime, str] | None = None
    while True:
        rows = await dead_letter_db.failed_page(resources.db, filters, DEAD_LETTER_PAGE, after)
        for job in rows:
            await _retry_into(resources, job.task_id, countdown_s, outcome)
        if len(rows) < DEAD_LETTER_PAGE or rows[-1].completed_at is None:
            return outcome
        after = (rows[-1].completed_at, rows[-1].task_id)


async def _retry_into(
    resources: Resources, job_id: str, countdown_s: float, outcome: RetryOutcome
) -> None:
    try:
        result = await retry(resources, job_id, countdown_s)
    except Conflict as exc:
        if await resources.redis.exists(keys.retried_as(job_id)):
            outcome.already_retried.append(job_id)
        else:
            outcome.refused[job_id] = str(exc)
    except NotFound as exc:
        outcome.refused[job_id] = str(exc)
    else:
        outcome.new_job_ids.append(result.new_job_id or "")
