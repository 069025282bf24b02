"""The cron loop every worker runs: sleep until the next due time, then fire what is due."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from voicepipe.engine.cron import CronJob, fire
from voicepipe.engine.outage import Backoff, redis_unavailable
from voicepipe.history import monitoring
from voicepipe.resources import Resources

log = logging.getLogger(__name__)

FIRE_RETRY_MIN_S = 0.1
FIRE_RETRY_MAX_S = 5.0


async def run_cron(resources: Resources, jobs: list[CronJob], stop: asyncio.Event) -> None:
    """Enqueue each job at its due times until `stop` is set. A run Redis cannot take now (away or
    refusing writes) is tried again, with growing waits, until the job's next run is due."""
    if not jobs:
        return
    now = datetime.now(UTC)
    next_runs = {job.name: job.next_run(now) for job in jobs}
    by_name = {job.name: job for job in jobs}
    trouble = Backoff("cron", FIRE_RETRY_MIN_S, FIRE_RETRY_MAX_S, log)
    retry_s = 0.0
    await _publish(resources, by_name, next_runs)
    while not stop.is_set():
        due_at = min(next_runs.values())
        wait_s = max((due_at - datetime.now(UTC)).total_seconds(), retry_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait_s)
            return
        retry_s = 0.0
        for name, run_at in list(next_runs.items()):
            if run_at > datetime.now(UTC):
                continue
            job = by_name[name]
            following = job.next_run(run_at)
            try:
                if await fire(resources, job, run_at):
                    # sweepers fire every minute: their runs show in the history, and they log
                    # themselves when they find something
                    log.debug("cron %s enqueued for %s", name, run_at.isoformat())
                trouble.succeeded()
            except Exception as exc:
                if redis_unavailable(exc) is not None and following > datetime.now(UTC):
                    retry_s = trouble.failed(exc)
                    continue  # the same run, again after retry_s
                log.warning("cron %s: the run of %s is missed: %r", name, run_at.isoformat(), exc)
            next_runs[name] = following
        await _publish(resources, by_name, next_runs)


async def _publish(
    resources: Resources, jobs: dict[str, CronJob], next_runs: dict[str, datetime]
) -> None:
    with contextlib.suppress(Exception):  # only a view of the schedule; written again next time
        await monitoring.write_cron_schedule(
            resources.redis, [jobs[name].entry(at) for name, at in next_runs.items()]
        )
