"""Job lifecycles as the engine emits them, for recorder and monitoring tests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from voicepipe.domain.jobs import JobStatus
from voicepipe.engine.events import EventType, add_to, make_event


@dataclass
class Life:
    """One job's events in the order they happen, and what its row must say at the end."""

    job_id: str
    task: str = "work"
    queue: str = "default"
    priority: int = 1
    events: list[dict[str, Any]] = field(default_factory=list)
    status: JobStatus = JobStatus.PENDING
    retry_count: int = 0

    def add(self, kind: EventType, at: float, try_number: int = 1, worker: str | None = "w1",
            **extra: Any) -> Life:  # fmt: skip
        self.events.append(
            make_event(kind, job_id=self.job_id, task=self.task, queue=self.queue, try_number=try_number,
                       priority=self.priority, worker=worker, at=at, **extra)
        )  # fmt: skip
        return self

    def queued(self, at: float, eta: float | None = None, **extra: Any) -> Life:
        extra = {"args": {"job": self.job_id}, "max_retries": 3, "owner_id": None, "parent_id": None,
                 "batch_id": None, "retry_of": None, "metadata": {}} | extra  # fmt: skip
        return self.add("queued", at, worker=None, eta=eta, **extra)


PLOTS = ("success", "failure", "retried_success", "cancelled", "running", "pending", "scheduled",
         "retrying", "progress_success")  # fmt: skip


def random_life(job_id: str, rng: random.Random, t0_s: float) -> Life:
    """A job that ends in one of PLOTS, with plausible times after `t0_s`."""
    plot = rng.choice(PLOTS)
    life = Life(
        job_id, task=rng.choice(["a", "b", "c"]), queue=rng.choice(["default", "consensus"])
    )
    at = t0_s + rng.uniform(0, 10)
    life.queued(at, eta=at + 60 if plot == "scheduled" else None)
    life.status = JobStatus.SCHEDULED if plot == "scheduled" else JobStatus.PENDING
    if plot in ("pending", "scheduled"):
        return life
    tries = 3 if plot in ("retried_success", "failure") else 1
    for try_number in range(1, tries + 1):
        at += rng.uniform(0.001, 1)
        life.add("started", at, try_number)
        life.status, life.retry_count = JobStatus.STARTED, try_number - 1
        if plot == "progress_success":
            for step in range(1, 4):
                life.add(
                    "progress",
                    at + step / 100,
                    try_number,
                    progress={"current": step, "total": 3, "info": {}},
                )
        at += rng.uniform(0.001, 1)
        if try_number < tries:
            life.add(
                "retry",
                at,
                try_number,
                error=f"try {try_number} failed",
                traceback="tb",
                eta=at + 0.5,
            )
            at += 0.5
    if plot in ("running",):
        return life
    if plot == "retrying":
        life.add("retry", at, 1, error="later", traceback="tb", eta=at + 30)
        life.status, life.retry_count = JobStatus.RETRY, 1
    elif plot == "cancelled":
        life.add("cancelled", at, 1, reason="admin said so")
        life.status = JobStatus.CANCELLED
    elif plot == "failure":
        life.add("failure", at, tries, error="gave up", traceback="Traceback…", runtime_s=0.1)
        life.status = JobStatus.FAILURE
    else:
        life.add("success", at, tries, result={"job": job_id}, runtime_s=0.1)
        life.status = JobStatus.SUCCESS
    return life


def interleave(lives: list[Life], rng: random.Random) -> list[dict[str, Any]]:
    """All events in one stream order: each job's own order kept, jobs mixed at random."""
    queues = [list(life.events) for life in lives]
    order = [i for i, events in enumerate(queues) for _ in events]
    rng.shuffle(order)
    return [queues[i].pop(0) for i in order]


async def emit(redis: Redis, events: list[dict[str, Any]]) -> None:
    """Write events to the stream exactly as the engine does (pipelined, in this order)."""
    async with redis.pipeline(transaction=False) as pipe:
        for event in events:
            add_to(pipe, event, live=False)
        await pipe.execute()
