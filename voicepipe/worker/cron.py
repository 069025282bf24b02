"""The cron loop every worker runs: sleep until the next due time, then fire what is due."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from voicepipe.engine.cron import CronJob, fire
from voicepipe.history import monitoring
from voicepipe.resources import Resources

log = logging.getLogger(__name__)


async def run_cron(resources: Resources, jobs: list[CronJob], stop: asyncio.Event) -> None:
    if not jobs:
        return
    now = datetime.now(UTC)
    next_runs = {job.name: job.next_run(now) for job in jobs}
    by_name = {job.name: job for job in jobs}
    await _publish(resources, by_name, next_runs)
    while not stop.is_set():
        due_at = min(next_runs.values())
        wait_s = max((due_at - datetime.now(UTC)).total_seconds(), 0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait_s)
            return
        for name, run_at in list(next_runs.items()):
            if run_at <= datetime.now(UTC):
                try:
                    if await fire(resources, by_name[name], run_at):
                        log.info("cron %s enqueued for %s", name, run_at.isoformat())
                except Exception as exc:  # Redis away: this run is missed, the next one is tried
                    log.warning("cron %s could not be enqueued: %s", name, exc)
                next_runs[name] = by_name[name].next_run(run_at)
        await _publish(resources, by_name, next_runs)


async def _publish(
    resources: Resources, jobs: dict[str, CronJob], next_runs: dict[str, datetime]
) -> None:
    with contextlib.suppress(Exception):
        await monitoring.write_cron_schedule(
            resources.redis, [jobs[name].entry(at) for name, at in next_runs.items()]
        )
