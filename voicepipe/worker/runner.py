"""One worker process: one arq Worker per queue in one event loop, sharing one Redis pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Any

import psutil
from arq.worker import Function, Worker, func

from voicepipe import __version__, keys
from voicepipe.resources import Resources
from voicepipe.services import workers as heartbeats
from voicepipe.services.tasks import REGISTRY, JobContext, Task

log = logging.getLogger(__name__)


class WorkerProcess:
    """Serves `queues` until `stop` is set, then drains: running jobs get `grace_s` to finish."""

    def __init__(self, resources: Resources, queues: list[str], concurrency: int) -> None:
        self.resources = resources
        self.queues = queues
        self.concurrency = concurrency
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.started_at = time.time()
        self.arq_workers = [self._arq_worker(queue) for queue in queues]

    async def run(self, stop: asyncio.Event) -> None:
        mains = [
            asyncio.create_task(w.async_run(), name=f"queue {w.queue_name}")
            for w in self.arq_workers
        ]
        beat = asyncio.create_task(self._heartbeat_loop())
        log.info(
            "worker %s serving %s, %d jobs at once per queue",
            self.worker_id,
            ",".join(self.queues),
            self.concurrency,
        )
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopper, *mains], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper:
                    task.result()  # a queue loop that ended on its own has failed: surface why
        finally:
            stopper.cancel()
            await self._drain(mains)
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            await heartbeats.remove_heartbeat(self.resources.redis, self.worker_id)
            log.info("worker %s stopped", self.worker_id)

    async def _drain(self, mains: list[asyncio.Task[None]]) -> None:
        for worker in self.arq_workers:
            worker.allow_pick_jobs = False
        running = [t for w in self.arq_workers for t in w.tasks.values() if not t.done()]
        grace_s = self.resources.settings.shutdown_grace_s
        if running:
            log.info("waiting up to %.0fs for %d running job(s)", grace_s, len(running))
            _, still_running = await asyncio.wait(running, timeout=grace_s)
            for task in still_running:
                # arq puts a cancelled job back in its queue for another worker.
                task.cancel()
            if still_running:
                log.warning("handed %d unfinished job(s) back to their queues", len(still_running))
                await asyncio.gather(*still_running, return_exceptions=True)
        for main in mains:
            main.cancel()
        await asyncio.gather(*mains, return_exceptions=True)

    def _arq_worker(self, queue: str) -> Worker:
        settings = self.resources.settings
        return Worker(
            [self._arq_function(t, queue) for t in REGISTRY.values()],
            queue_name=keys.queue(queue),
            redis_pool=self.resources.redis,
            handle_signals=False,
            max_jobs=self.concurrency,
            keep_result=settings.job_result_expires_s,
            max_tries=settings.job_max_retries + 1,
            health_check_interval=3600,
            health_check_key=f"{keys.queue(queue)}:health-check:{self.worker_id}",
        )

    def _arq_function(self, task: Task, queue: str) -> Function:
        async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
            job_ctx = JobContext(
                job_id=ctx["job_id"],
                task_name=task.name,
                queue=queue,
                try_number=ctx["job_try"],
                worker_id=self.worker_id,
                resources=self.resources,
            )
            return await task.fn(job_ctx, **kwargs)

        return func(run, name=task.name)

    async def _heartbeat_loop(self) -> None:
        process = psutil.Process()
        while True:
            try:
                await heartbeats.write_heartbeat(
                    self.resources.redis, self.worker_id, self._heartbeat(process)
                )
            except Exception as exc:  # Redis away for a moment: keep working, try again next beat
                log.warning("heartbeat failed: %s", exc)
            await asyncio.sleep(heartbeats.HEARTBEAT_INTERVAL_S)

    def _heartbeat(self, process: psutil.Process) -> dict[str, Any]:
        return {
            "id": self.worker_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": self.queues,
            "concurrency": self.concurrency,
            "running": [job_id for w in self.arq_workers for job_id in w.job_tasks],
            "processed": sum(w.jobs_complete for w in self.arq_workers),
            "failed": sum(w.jobs_failed for w in self.arq_workers),
            "retried": sum(w.jobs_retried for w in self.arq_workers),
            "memory_rss_bytes": process.memory_info().rss,
            "version": __version__,
            "started_at": self.started_at,
        }
