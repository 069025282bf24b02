"""Task declaration: `@task(...)` registers a job function once; the same object enqueues it."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from arq.jobs import Job

from voicepipe import keys
from voicepipe.errors import ConfigError, InvalidInput, NotFound
from voicepipe.resources import Resources
from voicepipe.settings import QUEUES

_current: contextvars.ContextVar[Resources] = contextvars.ContextVar("voicepipe_resources")


def use_resources(resources: Resources) -> contextvars.Token[Resources]:
    """Make `resources` the ones `Task.enqueue` uses in this context (web app, worker, command)."""
    return _current.set(resources)


def current_resources() -> Resources:
    try:
        return _current.get()
    except LookupError:
        raise ConfigError(
            "no resources opened in this context: call use_resources() first"
        ) from None


@dataclass(frozen=True)
class JobContext:
    """What a running job knows about itself and the world."""

    job_id: str
    task_name: str
    queue: str
    try_number: int
    worker_id: str
    resources: Resources


TaskFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class JobHandle:
    """A job that was enqueued; its result is read through arq until it expires."""

    job_id: str
    task_name: str
    queue: str
    resources: Resources

    async def result(self, timeout_s: float | None = None) -> Any:
        job = Job(self.job_id, self.resources.redis, _queue_name=keys.queue(self.queue))
        return await job.result(timeout=timeout_s, poll_delay=0.05)


@dataclass(frozen=True)
class Task:
    """A declared task: its name, queue and the coroutine that does the work."""

    name: str
    queue: str
    fn: TaskFn

    async def enqueue(
        self, *, _queue: str | None = None, _job_id: str | None = None, **kwargs: Any
    ) -> JobHandle:
        resources = current_resources()
        queue = _queue or self.queue
        if queue not in QUEUES:
            raise InvalidInput(f"unknown queue {queue!r}; queues are {', '.join(QUEUES)}")
        job_id = _job_id or uuid.uuid4().hex
        job = await resources.redis.enqueue_job(
            self.name, _job_id=job_id, _queue_name=keys.queue(queue), **kwargs
        )
        if job is None:
            raise InvalidInput(f"a job with id {job_id} already exists")
        return JobHandle(job_id=job_id, task_name=self.name, queue=queue, resources=resources)


REGISTRY: dict[str, Task] = {}


def task(queue: str = "default", name: str | None = None) -> Callable[[TaskFn], Task]:
    """Declare a task; the decorated coroutine takes a JobContext and keyword arguments."""
    if queue not in QUEUES:
        raise ConfigError(f"task queue {queue!r} is not one of {', '.join(QUEUES)}")

    def register(fn: TaskFn) -> Task:
        declared = Task(name=name or fn.__name__, queue=queue, fn=fn)
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
