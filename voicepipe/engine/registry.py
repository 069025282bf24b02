"""Task declaration: `@task(...)` registers a job function with its policy; the same object enqueues it.

Enqueueing is explicit: `await ping.enqueue(resources, payload="hi")`, with the resources of the
caller (a web handler's `request.app[RESOURCES]`, a job's `ctx.resources`, a command's or a test's
opened pools). Nothing is looked up from ambient state.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from arq.jobs import deserialize_result

from voicepipe import keys
from voicepipe.domain.jobs import JobPriority, JobStatus
from voicepipe.engine.broker import Broker, JobSpec, loads
from voicepipe.engine.events import make_event
from voicepipe.engine.job_context import JobContext
from voicepipe.engine.job_state import redis_status
from voicepipe.errors import ConfigError, InvalidInput, NotFound, TaskError
from voicepipe.resources import Resources
from voicepipe.settings import QUEUES


def broker_for(resources: Resources) -> Broker:
    settings = resources.settings
    return Broker(
        resources.redis, int(settings.priority_aging_s * 1000), settings.job_result_expires_s
    )


class JobFailed(TaskError):
    """Raised by `JobHandle.result` when the job ended in failure."""


TaskFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Policy:
    """How a task is retried and limited; None means the settings' default."""

    max_retries: int | None = None
    retry_backoff: bool = True
    retry_backoff_max_s: float = 600.0
    retry_jitter: bool = True
    autoretry_for: tuple[type[BaseException], ...] = ()
    soft_time_limit_s: float | None = None
    time_limit_s: float | None = None
    notify_success: bool = False  # a success notifies the job's owner (a failure always does)


@dataclass(frozen=True)
class JobHandle:
    """A job that was enqueued: ask for its status, info and result."""

    job_id: str
    task_name: str
    queue: str
    resources: Resources = field(repr=False)

    async def status(self) -> JobStatus | None:
        """The job's status as Redis holds it; None once its result has expired (then
        `voicepipe.history.job_status.live_status` and `monitoring.get_job_info` ask the history)."""
        return await redis_status(self.resources.redis, self.job_id, self.queue)

    async def result(self, timeout_s: float | None = None) -> Any:
        """Wait for the result; raises JobFailed if the job failed, TimeoutError after `timeout_s`."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        delay_s = 0.002
        while True:
            raw = await self.resources.redis.get(keys.result(self.job_id))
            if raw is not None:
                outcome = deserialize_result(raw, deserializer=loads)
                if not outcome.success:
                    raise JobFailed(f"job {self.job_id} failed: {outcome.result}")
                return outcome.result
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.job_id} did not finish within {timeout_s}s")
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, 0.1)


@dataclass(frozen=True)
class Task:
    """A declared task: its name, queue, policy and the coroutine that does the work."""

    name: str
    queue: str
    fn: TaskFn
    policy: Policy
    # a module the CPU pool of a worker serving this task's queue imports before forking children
    cpu_preload: str | None = None

    def max_retries(self, resources: Resources) -> int:
        return (
            resources.settings.job_max_retries
            if self.policy.max_retries is None
            else self.policy.max_retries
        )

    def spec(
        self,
        resources: Resources,
        kwargs: dict[str, Any],
        *,
        priority: JobPriority = JobPriority.NORMAL,
        countdown_s: float | None = None,
        eta: datetime | None = None,
        job_id: str | None = None,
        queue: str | None = None,
        owner_id: int | None = None,
        parent_id: str | None = None,
        batch_id: str | None = None,
        retry_of: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> JobSpec:
        """Everything the broker needs to enqueue one job of this task."""
        queue = queue or self.queue
        if queue not in QUEUES:
            raise InvalidInput(f"unknown queue {queue!r}; queues are {', '.join(QUEUES)}")
        if countdown_s is not None and eta is not None:
            raise InvalidInput("give countdown_s or eta, not both")
        due_s = eta.timestamp() if eta is not None else None
        if countdown_s is not None:
            due_s = time.time() + countdown_s
        job_id = job_id or uuid.uuid4().hex
        event = make_event(
            "queued", job_id=job_id, task=self.name, queue=queue, try_number=1, priority=int(priority),
            args=kwargs, max_retries=self.max_retries(resources), eta=due_s, owner_id=owner_id,
            parent_id=parent_id, batch_id=batch_id, retry_of=retry_of, metadata=metadata or {},
        )  # fmt: skip
        return JobSpec(
            job_id=job_id,
            task=self.name,
            queue=queue,
            kwargs=kwargs,
            priority=int(priority),
            try_number=1,
            due_ms=int(due_s * 1000) if due_s is not None else None,
            owner_id=owner_id,
            queued_event=event,
        )

    async def enqueue(
        self,
        resources: Resources,
        /,
        *,
        priority: JobPriority = JobPriority.NORMAL,
        countdown_s: float | None = None,
        eta: datetime | None = None,
        job_id: str | None = None,
        queue: str | None = None,
        owner_id: int | None = None,
        parent_id: str | None = None,
        batch_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> JobHandle:
        """Enqueue one job through `resources`; keyword arguments (JSON-safe) go to the task."""
        spec = self.spec(
            resources, kwargs, priority=priority, countdown_s=countdown_s, eta=eta, job_id=job_id,
            queue=queue, owner_id=owner_id, parent_id=parent_id, batch_id=batch_id, metadata=metadata,
        )  # fmt: skip
        (accepted,) = await broker_for(resources).enqueue([spec])
        if not accepted:
            raise InvalidInput(f"a job with id {spec.job_id} already exists")
        return JobHandle(
            job_id=spec.job_id, task_name=self.name, queue=spec.queue, resources=resources
        )


REGISTRY: dict[str, Task] = {}
# enqueue()'s own keywords: a task parameter of one of these names could never be given
ENQUEUE_KEYWORDS = frozenset(
    ("priority", "countdown_s", "eta", "job_id", "queue", "owner_id", "parent_id", "batch_id",
     "metadata")
)  # fmt: skip


def task(
    queue: str = "default",
    *,
    name: str | None = None,
    max_retries: int | None = None,
    retry_backoff: bool = True,
    retry_backoff_max_s: float = 600.0,
    retry_jitter: bool = True,
    autoretry_for: tuple[type[BaseException], ...] = (),
    soft_time_limit_s: float | None = None,
    time_limit_s: float | None = None,
    notify_success: bool = False,
    cpu_preload: str | None = None,
) -> Callable[[Callable[..., Awaitable[Any]]], Task]:
    """Declare a task; the decorated coroutine takes a JobContext and keyword arguments.

    `cpu_preload` names a module the CPU pool of the workers serving the task's queue imports
    before it forks its children: for work whose first call is slow (librosa compiling), done
    once per worker and shared by its children."""
    if queue not in QUEUES:
        raise ConfigError(f"task queue {queue!r} is not one of {', '.join(QUEUES)}")
    if soft_time_limit_s and time_limit_s and soft_time_limit_s >= time_limit_s:
        raise ConfigError("soft_time_limit_s must be shorter than time_limit_s")
    policy = Policy(
        max_retries, retry_backoff, retry_backoff_max_s, retry_jitter, tuple(autoretry_for),
        soft_time_limit_s, time_limit_s, notify_success,
    )  # fmt: skip

    def register(fn: Callable[..., Awaitable[Any]]) -> Task:
        clash = ENQUEUE_KEYWORDS & set(inspect.signature(fn).parameters)
        if clash:
            raise ConfigError(
                f"task {fn.__name__}: parameter {sorted(clash)[0]!r} is a keyword of enqueue(); "
                "rename it"
            )
        declared = Task(
            name=name or fn.__name__, queue=queue, fn=fn, policy=policy, cpu_preload=cpu_preload
        )
        if declared.name in REGISTRY:
            raise ConfigError(f"task {declared.name!r} is declared twice")
        REGISTRY[declared.name] = declared
        return declared

    return register


def get_task(name: str) -> Task:
    try:
        return REGISTRY[name]
    except KeyError:
        raise NotFound(f"no task named {name!r}") from None


__all__ = [
    "JobContext",
    "JobFailed",
    "JobHandle",
    "Policy",
    "Task",
    "get_task",
    "task",
]
