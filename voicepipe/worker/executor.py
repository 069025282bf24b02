"""Runs one claimed job: context, soft and hard limits, retries with backoff, the outcome recorded."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voicepipe.domain.jobs import backoff_delay_s
from voicepipe.engine.broker import Broker, ClaimedJob
from voicepipe.engine.events import EventType, make_event
from voicepipe.engine.job_context import JobContext
from voicepipe.engine.registry import REGISTRY, Task
from voicepipe.errors import JobCancelled, Retry, SoftTimeLimitExceeded, TimeLimitExceeded
from voicepipe.resources import Resources
from voicepipe.worker.cpu import CpuPool
from voicepipe.worker.limits import Interruptible

log = logging.getLogger(__name__)

PROGRESS_MIN_INTERVAL_S = 0.1
ABANDON_AFTER_CANCEL_S = 1.0


@dataclass
class Outcome:
    kind: str  # "success" | "retry" | "failure" | "cancelled"
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    retry_in_s: float = 0.0


@dataclass
class _Running:
    """A job in progress and how an admin asked it to stop, if they did."""

    body: Interruptible
    terminated: asyncio.Future[None]
    stop: str | None = None  # "cancel" | "terminate"


class Executor:
    """Everything a worker needs to run jobs; one per worker process."""

    def __init__(
        self,
        resources: Resources,
        broker: Broker,
        cpu: CpuPool,
        worker_id: str,
        live: Callable[[], bool],
    ) -> None:
        self.resources = resources
        self.broker = broker
        self.cpu = cpu
        self.worker_id = worker_id
        self.live = live
        self.counters = {"processed": 0, "failed": 0, "retried": 0, "cancelled": 0}
        self.running: dict[str, _Running] = {}

    def stop_job(self, job_id: str, how: str) -> bool:
        """Cancel (interrupt at an await point, cleanup runs) or terminate (now) a job running here."""
        job = self.running.get(job_id)
        if job is None or job.stop is not None:
            return False
        job.stop = how
        log.info("%s requested for job %s", how, job_id)
        if how == "terminate":
            job.terminated.set_result(None)
        else:
            job.body.interrupt(JobCancelled("cancelled by an admin"))
        return True

    async def run(self, job: ClaimedJob) -> None:
        task = REGISTRY.get(job.task)
        started = time.monotonic()
        try:
            outcome = (
                await self._execute(task, job)
                if task
                else _failed(f"no task named {job.task!r} is registered")
            )
        except asyncio.CancelledError:
            await self._hand_back(job)
            raise
        await self._settle(task, job, outcome, time.monotonic() - started)

    async def _execute(self, task: Task, job: ClaimedJob) -> Outcome:
        ctx = self._context(task, job)
        try:
            body = Interruptible(task.fn(ctx, **job.kwargs))  # type: ignore[arg-type]
        except TypeError as exc:  # wrong arguments: retrying cannot help
            return _failed(f"bad arguments for {task.name}: {exc}")
        runner = asyncio.create_task(_await(body), name=f"job {job.job_id}")
        terminated = asyncio.get_running_loop().create_future()
        running = self.running[job.job_id] = _Running(body, terminated)
        try:
            return await self._supervise(task, job, runner, running)
        finally:
            del self.running[job.job_id]

    async def _supervise(
        self, task: Task, job: ClaimedJob, runner: asyncio.Task[Any], running: _Running
    ) -> Outcome:
        """Wait for the job under its soft and hard limits and any stop request; say how it ended."""
        policy = task.policy
        soft_timer = None
        if policy.soft_time_limit_s:
            soft_timer = asyncio.get_running_loop().call_later(
                policy.soft_time_limit_s,
                running.body.interrupt,
                SoftTimeLimitExceeded(f"soft time limit of {policy.soft_time_limit_s:g}s exceeded"),
            )
        hard_s = policy.time_limit_s or self.resources.settings.job_time_limit_s
        try:
            done, _ = await asyncio.wait(
                {runner, running.terminated}, timeout=hard_s, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            await self._stop(runner, job)
            raise
        finally:
            if soft_timer:
                soft_timer.cancel()
        if running.terminated in done:
            await self._stop(runner, job)
            return Outcome("cancelled", error="terminated by an admin")
        if not done:
            await self._stop(runner, job)
            return _failed(f"hard time limit of {hard_s:g}s exceeded", TimeLimitExceeded.__name__)
        error = runner.exception()
        if running.stop == "cancel" and isinstance(error, JobCancelled):
            return Outcome("cancelled", error="cancelled by an admin")
        if error is None:
            return Outcome("success", result=runner.result())
        return self._outcome_of(task, job, error)

    async def _stop(self, runner: asyncio.Task[Any], job: ClaimedJob) -> None:
        """Free the slot whatever the job does: kill its CPU work, cancel it, give up if it won't end."""
        self.cpu.kill(job.job_id)
        runner.cancel()
        _, pending = await asyncio.wait({runner}, timeout=ABANDON_AFTER_CANCEL_S)
        if pending:
            log.error("job %s ignores cancellation; abandoning it to free its slot", job.job_id)

    def _outcome_of(self, task: Task, job: ClaimedJob, exc: BaseException) -> Outcome:
        settings = self.resources.settings
        policy = task.policy
        tries_left = job.try_number <= task.max_retries(self.resources)
        text = "".join(traceback.format_exception(exc))
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, Retry) and tries_left:
            delay_s = exc.countdown_s if exc.countdown_s is not None else settings.job_retry_delay_s
            return Outcome("retry", error=error, traceback=text, retry_in_s=delay_s)
        if isinstance(exc, policy.autoretry_for) and tries_left:
            base_s = settings.job_retry_delay_s
            delay_s = (
                backoff_delay_s(
                    job.try_number, base_s, policy.retry_backoff_max_s, policy.retry_jitter
                )
                if policy.retry_backoff
                else base_s
            )
            return Outcome("retry", error=error, traceback=text, retry_in_s=delay_s)
        return Outcome("failure", error=error, traceback=text)

    async def _settle(
        self, task: Task | None, job: ClaimedJob, outcome: Outcome, runtime_s: float
    ) -> None:
        live = self.live()
        if outcome.kind == "success":
            self.counters["processed"] += 1
            event = self._event(job, "success", result=outcome.result, runtime_s=runtime_s)
            self.broker.finish(job, True, outcome.result, event, live)
        elif outcome.kind == "retry":
            self.counters["retried"] += 1
            due_ms = int((time.time() + outcome.retry_in_s) * 1000)
            event = self._event(
                job, "retry", error=outcome.error, traceback=outcome.traceback, eta=due_ms / 1000
            )
            if await self.broker.retry_later(job, due_ms, event, live):
                log.info("job %s (%s) try %d failed, retry in %.1fs: %s", job.job_id, job.task,
                         job.try_number, outcome.retry_in_s, outcome.error)  # fmt: skip
        elif outcome.kind == "cancelled":
            self.counters["cancelled"] += 1
            reason = outcome.error or "cancelled"
            event = self._event(job, "cancelled", reason=reason, runtime_s=runtime_s)
            self.broker.finish(job, False, {"cancelled": True, "reason": reason}, event, live)
            log.info("job %s (%s) %s", job.job_id, job.task, reason)
        else:
            self.counters["failed"] += 1
            event = self._event(
                job,
                "failure",
                error=outcome.error,
                traceback=outcome.traceback,
                runtime_s=runtime_s,
            )
            self.broker.finish(job, False, {"error": outcome.error}, event, live)
            log.warning(
                "job %s (%s) failed on try %d: %s",
                job.job_id,
                job.task,
                job.try_number,
                outcome.error,
            )

    async def _hand_back(self, job: ClaimedJob) -> None:
        event = self._event(job, "queued", try_number=job.try_number + 1, handed_back=True)
        if await asyncio.shield(self.broker.hand_back(job, event, self.live())):
            log.info("handed job %s (%s) back to queue %s", job.job_id, job.task, job.queue)

    def _event(
        self, job: ClaimedJob, kind: EventType, try_number: int | None = None, **extra: Any
    ) -> dict[str, Any]:
        return make_event(
            kind, job_id=job.job_id, task=job.task, queue=job.queue, priority=job.priority,
            try_number=job.try_number if try_number is None else try_number, owner_id=job.owner_id,
            worker=self.worker_id, **extra,
        )  # fmt: skip

    def _context(self, task: Task, job: ClaimedJob) -> JobContext:
        last_progress = [0.0]

        async def progress(current: float, total: float | None, info: dict[str, Any]) -> None:
            now = time.monotonic()
            if not self.live() or (
                now - last_progress[0] < PROGRESS_MIN_INTERVAL_S and current != total
            ):
                return
            last_progress[0] = now
            event = self._event(
                job, "progress", progress={"current": current, "total": total, "info": info}
            )
            await self.broker.publish(event, live=True)

        async def run_cpu(fn: Callable[..., Any], *args: Any) -> Any:
            return await self.cpu.run(job.job_id, fn, *args)

        return JobContext(
            job_id=job.job_id, task_name=task.name, queue=job.queue, try_number=job.try_number,
            max_retries=task.max_retries(self.resources), priority=job.priority, worker_id=self.worker_id,
            resources=self.resources, _progress=progress, _run_cpu=run_cpu,
        )  # fmt: skip


async def _await(body: Interruptible) -> Any:
    return await body


def _failed(error: str, kind: str = "PermanentTaskError") -> Outcome:
    return Outcome("failure", error=f"{kind}: {error}")
