"""One worker process: a claim loop per queue in one event loop, sharing one Redis pool and CPU pool."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from typing import Any

import psutil

from voicepipe import __version__
from voicepipe.engine import heartbeats
from voicepipe.engine.broker import ClaimedJob
from voicepipe.engine.cron import CRON_JOBS
from voicepipe.engine.outage import REDIS_DOWN
from voicepipe.engine.registry import broker_for
from voicepipe.history.recorder import Recorder
from voicepipe.resources import Resources
from voicepipe.worker.control import ControlListener
from voicepipe.worker.cpu import CpuPool
from voicepipe.worker.cron import run_cron
from voicepipe.worker.executor import Executor
from voicepipe.worker.reaper import run_reaper

log = logging.getLogger(__name__)

IDLE_WAIT_MAX_S = 1.0
BURST_WINDOW_S = 0.2


class WorkerProcess:
    """Serves `queues` until `stop` is set, then drains: running jobs get the grace period to finish."""

    def __init__(
        self, resources: Resources, queues: list[str], concurrency: int, cpu_workers: int = 0
    ) -> None:
        self.resources = resources
        self.queues = queues
        self.concurrency = concurrency
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.started_at = time.time()
        self.broker = broker_for(resources)
        self.cpu = CpuPool(cpu_workers or resources.settings.cpu_workers or os.cpu_count() or 1)
        self.live_events = True
        self.executor = Executor(
            resources, self.broker, self.cpu, self.worker_id, lambda: self.live_events
        )
        self.running: dict[str, dict[str, asyncio.Task[None]]] = {q: {} for q in queues}
        self.recorder = Recorder(resources, consumer=self.worker_id)
        self.last_claim_at = 0.0
        self.control = ControlListener(
            resources, self.worker_id, self.executor, self._set_live, self._restart
        )
        self.restart_requested = False
        self._stop = asyncio.Event()

    def _set_live(self, enabled: bool) -> None:
        self.live_events = enabled

    def _restart(self) -> None:
        """Stop gracefully; the caller exits with RESTART_EXIT_CODE so the supervisor restarts us."""
        self.restart_requested = True
        self._stop.set()

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        loops = [asyncio.create_task(self._serve(q), name=f"queue {q}") for q in self.queues]
        beat = asyncio.create_task(self._heartbeat_loop())
        reaping = asyncio.create_task(run_reaper(self, stop), name="reaper")
        listening = asyncio.create_task(self.control.run(), name="control")
        # The recorder outlives the queue loops so the last jobs' events are recorded too.
        recorder_stop = asyncio.Event()
        recording = asyncio.create_task(
            self.recorder.run(recorder_stop, self._bursting), name="recorder"
        )
        cron_jobs = [job for job in CRON_JOBS.values() if job.task.queue in self.queues]
        scheduling = asyncio.create_task(run_cron(self.resources, cron_jobs, stop), name="cron")
        log.info("worker %s serving %s, %d jobs at once per queue",
                 self.worker_id, ",".join(self.queues), self.concurrency)  # fmt: skip
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopper, *loops], return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopper}:
                task.result()  # a queue loop that ended on its own has failed: surface why
        finally:
            stopper.cancel()
            reaping.cancel()
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._drain()
            await self.broker.written()  # finished jobs' outcomes, written in the background
            await asyncio.gather(scheduling, return_exceptions=True)
            recorder_stop.set()
            await asyncio.gather(recording, return_exceptions=True)
            await self.recorder.flush(timeout_s=2.0)
            beat.cancel()
            listening.cancel()
            await asyncio.gather(beat, listening, return_exceptions=True)
            self.cpu.close()
            await heartbeats.remove_heartbeat(self.resources.redis, self.worker_id)
            log.info("worker %s stopped", self.worker_id)

    async def _serve(self, queue: str) -> None:
        """Claim jobs while there are free slots; otherwise wait for a wake token or the next due job."""
        running = self.running[queue]
        slot_freed = asyncio.Event()
        while True:
            free = self.concurrency - len(running)
            if free <= 0:
                slot_freed.clear()
                await slot_freed.wait()
                continue
            try:
                jobs, next_due_ms = await self.broker.claim(
                    queue, self.worker_id, free, self.live_events
                )
            except REDIS_DOWN as exc:  # restarting: wait for it (the reaper frees a lost claim)
                log.warning("queue %s: cannot claim: %s", queue, exc)
                jobs, next_due_ms = [], None
            if jobs:
                self.last_claim_at = time.monotonic()
            for job in jobs:
                self._start(job, running, slot_freed)
            if not jobs:
                wait_s = IDLE_WAIT_MAX_S
                if next_due_ms is not None:
                    wait_s = min(wait_s, max(next_due_ms / 1000 - time.time(), 0.001))
                await self.broker.wait_for_work([queue], wait_s)

    def _bursting(self) -> bool:
        """Jobs were claimed a moment ago: the recorder waits so they get the CPU."""
        return time.monotonic() - self.last_claim_at < BURST_WINDOW_S

    def _start(
        self, job: ClaimedJob, running: dict[str, asyncio.Task[None]], slot_freed: asyncio.Event
    ) -> None:
        task = asyncio.create_task(self.executor.run(job), name=f"run {job.job_id}")
        running[job.job_id] = task

        def done(_: asyncio.Task[None]) -> None:
            running.pop(job.job_id, None)
            slot_freed.set()

        task.add_done_callback(done)

    async def _drain(self) -> None:
        tasks = [t for jobs in self.running.values() for t in jobs.values()]
        if not tasks:
            return
        grace_s = self.resources.settings.shutdown_grace_s
        log.info("waiting up to %.0fs for %d running job(s)", grace_s, len(tasks))
        _, unfinished = await asyncio.wait(tasks, timeout=grace_s)
        for task in unfinished:
            task.cancel()  # the executor hands the job back to its queue
        if unfinished:
            await asyncio.gather(*unfinished, return_exceptions=True)
            log.warning("handed %d unfinished job(s) back to their queues", len(unfinished))

    async def _heartbeat_loop(self) -> None:
        process = psutil.Process()
        while True:
            try:
                await self.control.catch_up()  # in case a control message was missed
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
            "running": [job_id for jobs in self.running.values() for job_id in jobs],
            **self.executor.counters,
            "memory_rss_bytes": process.memory_info().rss,
            "version": __version__,
            "started_at": self.started_at,
        }
