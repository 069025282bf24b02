"""One worker process: a claim loop per queue in one event loop, sharing one Redis pool and CPU pool."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from typing import Any

from voicepipe import __version__
from voicepipe.engine import heartbeats
from voicepipe.engine.broker import ClaimedJob
from voicepipe.engine.cron import CRON_JOBS
from voicepipe.engine.outage import RETRY_MIN_S, Backoff, redis_unavailable
from voicepipe.engine.registry import REGISTRY, broker_for
from voicepipe.history.recorder import Recorder
from voicepipe.resources import Resources
from voicepipe.services.batches import close_finished_batches
from voicepipe.services.notifications import notify_finished_jobs, webhook_channel
from voicepipe.services.notifications.alerts import run_alerts
from voicepipe.worker.control import ControlListener
from voicepipe.worker.cpu import CpuPool
from voicepipe.worker.cron import run_cron
from voicepipe.worker.executor import Executor
from voicepipe.worker.reaper import run_reaper
from voicepipe.worker.recycle import ADMIN_RESTART, Recycling

log = logging.getLogger(__name__)

IDLE_WAIT_MAX_S = 1.0
# A claim refused (Redis out of memory, read-only, unreachable) is tried again after a wait that
# doubles up to this: short, so jobs are picked up again soon after Redis is back.
CLAIM_RETRY_MAX_S = 1.0
CLAIM_REPLY_WAIT_S = 5.0  # how long a stopping worker waits for the reply of a claim in flight


class WorkerProcess:
    """Serves `queues` until `stop` is set, then drains: running jobs get the grace period to finish.

    It stops by itself, with `restart_reason` set, when an admin asks or a recycling limit is
    passed; its caller then exits with the code that has the supervisor start a fresh process.
    """

    def __init__(
        self, resources: Resources, queues: list[str], concurrency: int, cpu_workers: int = 0
    ) -> None:
        self.resources = resources
        self.queues = queues
        self.concurrency = concurrency
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.started_at = time.time()
        self.broker = broker_for(resources)
        self.cpu = CpuPool(
            cpu_workers or resources.settings.cpu_workers or os.cpu_count() or 1,
            _cpu_preloads(queues),
        )
        self.live_events = True
        self.executor = Executor(
            resources, self.broker, self.cpu, self.worker_id, lambda: self.live_events
        )
        self.running: dict[str, dict[str, asyncio.Task[None]]] = {q: {} for q in queues}
        self._slot_freed = {q: asyncio.Event() for q in queues}
        # the tasks whose success notifies (the registry is complete once the tasks are imported)
        self._notify_success = {n for n, t in REGISTRY.items() if t.policy.notify_success}
        self.recorder = Recorder(
            resources, consumer=self.worker_id, on_finished=self._notify_finished
        )
        self.control = ControlListener(
            resources, self.worker_id, self.executor, self._set_live, self._restart
        )
        self.recycling = Recycling.from_settings(resources.settings)
        self.restart_reason: str | None = None  # ADMIN_RESTART or the recycling limit passed
        self.beats_missed = 0  # heartbeats Redis did not take, in a row
        self._stop = asyncio.Event()

    async def _notify_finished(self, finished: list[tuple[str, str, str]]) -> None:
        """The notifications recorded jobs call for: every failure, the successes of tasks that
        ask for it, the end of a batch (the recorder calls this after each batch it commits)."""
        wanted = [
            job_id for job_id, task_name, status in finished
            if status == "failure" or task_name in self._notify_success
        ]  # fmt: skip
        if wanted:
            await notify_finished_jobs(self.resources, wanted, self._notify_success)
        # admins' webhook endpoints subscribed to job events (cached: no query when none is)
        await webhook_channel.queue_job_event_deliveries(self.resources, finished)
        await close_finished_batches(self.resources, [job_id for job_id, _, _ in finished])

    def _set_live(self, enabled: bool) -> None:
        self.live_events = enabled

    def _restart(self) -> None:
        self._leave(ADMIN_RESTART)

    def _leave(self, reason: str) -> None:
        """Stop gracefully, to be replaced by a fresh process (the first reason given counts)."""
        self.restart_reason = self.restart_reason or reason
        self._stop.set()

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        if self.cpu.preload:  # start the fork server and the CPU children before any job needs them
            started = time.perf_counter()
            await asyncio.to_thread(self.cpu.warm_up)
            log.info("CPU pool of %d warm in %.1f s (preloaded %s)", self.cpu.size,
                     time.perf_counter() - started, ", ".join(self.cpu.preload))  # fmt: skip
        loops = [asyncio.create_task(self._serve(q), name=f"queue {q}") for q in self.queues]
        beat = asyncio.create_task(self._heartbeat_loop())
        reaping = asyncio.create_task(run_reaper(self, stop), name="reaper")
        listening = asyncio.create_task(self.control.run(), name="control")
        # The recorder outlives the queue loops so the last jobs' events are recorded too.
        recorder_stop = asyncio.Event()
        recording = asyncio.create_task(self.recorder.run(recorder_stop), name="recorder")
        cron_jobs = [job for job in CRON_JOBS.values() if job.task.queue in self.queues]
        scheduling = asyncio.create_task(run_cron(self.resources, cron_jobs, stop), name="cron")
        alerting = asyncio.create_task(run_alerts(self.resources, stop), name="alerts")
        log.info("worker %s serving %s, %d jobs at once per queue",
                 self.worker_id, ",".join(self.queues), self.concurrency)  # fmt: skip
        self.recycling.starting()
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
            await asyncio.gather(scheduling, alerting, return_exceptions=True)
            recorder_stop.set()
            await asyncio.gather(recording, return_exceptions=True)
            beat.cancel()
            listening.cancel()
            await asyncio.gather(beat, listening, return_exceptions=True)
            self.cpu.close()
            await self._leave_redis()
            log.info("worker %s stopped", self.worker_id)

    async def _leave_redis(self) -> None:
        """Record the last events and remove the heartbeat; what Redis (or PostgreSQL) cannot
        take now is left: the events wait in the stream for another recorder, the heartbeat expires."""
        try:
            await self.recorder.flush(timeout_s=2.0)
        except Exception as exc:
            log.warning(
                "worker %s: its last events are left in the stream: %r", self.worker_id, exc
            )
        try:
            await heartbeats.remove_heartbeat(self.resources.redis, self.worker_id)
        except Exception as exc:
            log.warning("worker %s: its heartbeat is left to expire: %r", self.worker_id, exc)

    async def _serve(self, queue: str) -> None:
        """Claim jobs while there are free slots; otherwise wait for a wake token or the next due job."""
        running, slot_freed = self.running[queue], self._slot_freed[queue]
        trouble = Backoff(f"queue {queue}: claiming", RETRY_MIN_S, CLAIM_RETRY_MAX_S, log)
        while not self._stop.is_set():
            free = self.recycling.claimable(self.concurrency - len(running))
            if free <= 0:
                slot_freed.clear()
                await slot_freed.wait()
                continue
            try:
                jobs, next_due_ms = await self._claim(queue, free)
                if not jobs:
                    await self.broker.wait_for_work([queue], _idle_wait_s(next_due_ms))
            except Exception as exc:
                # A refused claim script changed nothing; one whose reply was lost is released by
                # the reaper (an entry of ours that we are not running).
                if redis_unavailable(exc) is None:
                    raise
                await asyncio.sleep(trouble.failed(exc))
                continue
            trouble.succeeded()

    async def _claim(self, queue: str, free: int) -> tuple[list[ClaimedJob], int | None]:
        """Claim up to `free` jobs and start them. A stop that comes while the claim is in flight
        waits for its reply: the jobs it took are started, to finish or be handed back by the
        drain, instead of being left in the running hash for a reaper to find."""
        claiming = asyncio.ensure_future(
            self.broker.claim(queue, self.worker_id, free, self.live_events)
        )
        try:
            jobs, next_due_ms = await asyncio.shield(claiming)
        except asyncio.CancelledError:
            await asyncio.wait([claiming], timeout=CLAIM_REPLY_WAIT_S)
            if claiming.done() and not claiming.cancelled() and claiming.exception() is None:
                for job in claiming.result()[0]:
                    self._start(job)
            raise
        self.recycling.claimed += len(jobs)
        for job in jobs:
            self._start(job)
        return jobs, next_due_ms

    def _start(self, job: ClaimedJob) -> None:
        running, slot_freed = self.running[job.queue], self._slot_freed[job.queue]
        task = asyncio.create_task(self.executor.run(job), name=f"run {job.job_id}")
        running[job.job_id] = task

        def done(_: asyncio.Task[None]) -> None:
            running.pop(job.job_id, None)
            reached = self.recycling.job_done()
            if reached is not None:
                self._leave(reached)
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
        # No backing off here: a beat is due every interval, or the worker is taken for lost.
        trouble = Backoff("heartbeat", logger=log)
        while True:
            rss_bytes = self.recycling.rss_bytes()
            reached = self.recycling.memory(rss_bytes)
            if reached is not None:
                self._leave(reached)
            try:
                await self.control.catch_up()  # in case a control message was missed
                await heartbeats.write_heartbeat(
                    self.resources.redis, self.worker_id, self._heartbeat(rss_bytes)
                )
                trouble.succeeded()
            except Exception as exc:  # keep working, try again next beat
                trouble.failed(exc)
            self.beats_missed = trouble.failures
            await asyncio.sleep(heartbeats.HEARTBEAT_INTERVAL_S)

    def _heartbeat(self, rss_bytes: int) -> dict[str, Any]:
        settings = self.resources.settings
        return {
            "id": self.worker_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": self.queues,
            "concurrency": self.concurrency,
            "running": [job_id for jobs in self.running.values() for job_id in jobs],
            **self.executor.counters,
            "memory_rss_bytes": rss_bytes,
            "version": __version__,
            "started_at": self.started_at,
            "restarts": settings.worker_restarts,
            "last_exit": settings.worker_last_exit,
        }


def _idle_wait_s(next_due_ms: int | None) -> float:
    """How long an idle claim loop waits for a wake token: until the next deferred job is due."""
    if next_due_ms is None:
        return IDLE_WAIT_MAX_S
    return min(IDLE_WAIT_MAX_S, max(next_due_ms / 1000 - time.time(), 0.001))


def _cpu_preloads(queues: list[str]) -> tuple[str, ...]:
    """The modules the CPU pool preloads for the tasks on `queues`, each once."""
    return tuple(
        sorted({t.cpu_preload for t in REGISTRY.values() if t.queue in queues and t.cpu_preload})
    )
