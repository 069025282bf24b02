"""The Redis side of jobs: enqueue, claim, finish, retry and hand back, each one atomic round trip.

Job definitions and results keep arq's format (`arq:job:<id>`, `arq:result:<id>`, JSON-serialised)
so arq's own tools can read them. What arq lacks is here: priorities, deferred jobs kept apart from
ready ones, an atomic claim (ZPOPMIN in a script, so two workers never race for a job), a running
set per queue, wake-up tokens for millisecond pickup, and a lifecycle event written in the same
step as every state change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis
from arq.jobs import serialize_result

from voicepipe import keys
from voicepipe.domain.jobs import ready_rank_ms
from voicepipe.engine import events
from voicepipe.engine.outage import REDIS_DOWN, persist
from voicepipe.engine.scripts import (
    CLAIM,
    CLAIM_MAX,
    ENQUEUE,
    FINISH,
    FINISH_MAX,
    WAKE_TOKENS_MAX,
)

log = logging.getLogger(__name__)

# Jobs waiting longer than this after their due time are dropped by Redis (arq's default too).
EXPIRES_EXTRA_MS = 86_400_000
REDIS_DOWN_PAUSE_S = 0.5


def dumps(value: Any) -> bytes:
    return json.dumps(value, default=str, separators=(",", ":")).encode()


def loads(raw: bytes | str) -> Any:
    return json.loads(raw)


@dataclass(frozen=True)
class JobSpec:
    """Everything needed to put one job in a queue."""

    job_id: str
    task: str
    queue: str
    kwargs: dict[str, Any]
    priority: int
    try_number: int
    due_ms: int | None  # None: ready now
    queued_event: dict[str, Any]

    def payload(self, enqueued_ms: int) -> bytes:
        return definition(self.task, self.kwargs, self.try_number, enqueued_ms, self.priority)


@dataclass(frozen=True)
class ClaimedJob:
    job_id: str
    task: str
    queue: str
    kwargs: dict[str, Any]
    try_number: int
    priority: int
    enqueued_ms: int
    started_ms: int


@dataclass(frozen=True)
class _Finished:
    """A finished job waiting to be written: its stored result and its event."""

    job: ClaimedJob
    stored: bytes
    event: str
    live: bool


class Broker:
    """Queue operations on one Redis; scripts are loaded once and run by their digest."""

    def __init__(self, redis: ArqRedis, aging_ms: int, result_expires_s: int) -> None:
        self.redis = redis
        self.aging_ms = aging_ms
        self.result_expires_ms = result_expires_s * 1000
        self._enqueue = redis.register_script(ENQUEUE)
        self._claim = redis.register_script(CLAIM)
        self._finish = redis.register_script(FINISH)
        self._unwritten: list[_Finished] = []
        self._writer: asyncio.Task[None] | None = None  # runs while outcomes wait to be written

    async def enqueue(self, specs: list[JobSpec], live: bool = True) -> list[bool]:
        """Put jobs in their queues; False for a job whose id exists already (nothing changes)."""
        now_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for spec in specs:
                due_ms = spec.due_ms if spec.due_ms is not None and spec.due_ms > now_ms else None
                deferred = due_ms is not None
                score = (
                    due_ms
                    if due_ms is not None
                    else ready_rank_ms(spec.priority, now_ms, self.aging_ms)
                )
                expire_ms = max(spec.due_ms or now_ms, now_ms) - now_ms + EXPIRES_EXTRA_MS
                await self._enqueue(
                    keys=[keys.job(spec.job_id), keys.result(spec.job_id), keys.queue(spec.queue),
                          keys.deferred(spec.queue), keys.wake(spec.queue), keys.EVENTS, keys.LIVE,
                          keys.EVENTS_ENABLED],
                    args=[spec.payload(now_ms), expire_ms, int(deferred), score, spec.priority, spec.job_id,
                          events.encode(spec.queued_event), int(live)],
                    client=pipe,
                )  # fmt: skip
            results = await pipe.execute()
        return [bool(r) for r in results]

    async def claim(
        self, queue: str, worker_id: str, max_n: int, live: bool
    ) -> tuple[list[ClaimedJob], int | None]:
        """Take up to `max_n` jobs (CLAIM_MAX at most), best rank first; and when the next is due."""
        now_ms = int(time.time() * 1000)
        claimed, next_due = await self._claim(
            keys=[
                keys.queue(queue),
                keys.deferred(queue),
                keys.running(queue),
                keys.EVENTS,
                keys.LIVE,
                keys.STOP_REQUESTS,
                keys.EVENTS_ENABLED,
            ],
            args=[
                now_ms,
                worker_id,
                min(max_n, CLAIM_MAX),
                self.aging_ms,
                queue,
                int(live),
                self.result_expires_ms,
            ],
        )
        jobs = []
        for i in range(0, len(claimed), 2):
            job = loads(claimed[i + 1])
            jobs.append(
                ClaimedJob(
                    job_id=claimed[i].decode(),
                    task=job["f"],
                    queue=queue,
                    kwargs=job["k"],
                    try_number=job["t"],
                    priority=job.get("p", 1),
                    enqueued_ms=job["et"],
                    started_ms=now_ms,
                )
            )
        return jobs, int(float(next_due)) if next_due else None

    async def wait_for_work(self, queues: list[str], timeout_s: float) -> None:
        """Block until a wake token arrives for one of `queues`, or `timeout_s` passes."""
        try:
            # Redis takes a fractional timeout; redis-py's type hint says int.
            await self.redis.blpop([keys.wake(q) for q in queues], timeout=max(timeout_s, 0.001))  # type: ignore[arg-type, misc]
        except REDIS_DOWN:  # restarting: look again in a moment
            await asyncio.sleep(min(timeout_s, REDIS_DOWN_PAUSE_S))

    def finish(
        self, job: ClaimedJob, success: bool, result: Any, event: dict[str, Any], live: bool
    ) -> None:
        """Queue the job's outcome: its result stored (arq's format), its definition, running entry
        and any stop request dropped, its event recorded.

        Outcomes are written in the background: all those queued while a write is in flight go in
        the next one, one script call (and one stream entry) for them all. The worker need not wait
        to take its next job; until the outcome is written the job's running entry stays, so a
        worker lost meanwhile has the job run again (at least once, as always). `written` waits.
        """
        stored = stored_result(
            job.job_id, job.task, job.kwargs, job.try_number, job.enqueued_ms, job.queue, success,
            result, job.started_ms, int(time.time() * 1000),
        )  # fmt: skip
        self._unwritten.append(_Finished(job, stored, events.encode(event), live))
        if self._writer is None or self._writer.done():
            # it starts on the next turn of the loop, with every outcome queued in this one
            self._writer = asyncio.create_task(self._write_all(), name="writing outcomes")

    async def written(self) -> None:
        """Wait until every queued outcome is written (or has failed and been logged), those
        queued meanwhile too: the writer stops only when none is left."""
        while self._writer is not None and not self._writer.done():
            await asyncio.wait([self._writer])  # a cancelled caller leaves the writer running

    async def _write_all(self) -> None:
        """Write queued outcomes until none is left, one script call in flight at a time."""
        while self._unwritten:
            batch, self._unwritten = self._unwritten, []
            for start in range(0, len(batch), FINISH_MAX):
                await self._write_batch(batch[start : start + FINISH_MAX])

    async def _write_batch(self, batch: list[_Finished]) -> None:
        # One script call for the whole batch: packing one command is far cheaper in redis-py
        # than packing several per job, and the script is atomic like a transaction.
        args: list[Any] = [
            self.result_expires_ms,
            int(any(item.live for item in batch)),
            events.join([item.event for item in batch]),
        ]
        for item in batch:
            args += (item.job.job_id, keys.running(item.job.queue), item.stored)

        async def write() -> None:
            await self._finish(
                keys=[keys.EVENTS, keys.LIVE, keys.EVENTS_ENABLED, keys.STOP_REQUESTS], args=args
            )

        try:
            await persist("finishing jobs", write)
        except Exception:
            log.exception(
                "could not write the outcome of %d job(s) (%s); they stay in their running hash",
                len(batch),
                ", ".join(item.job.job_id for item in batch[:5]),
            )

    async def retry_later(
        self, job: ClaimedJob, due_ms: int, event: dict[str, Any], live: bool
    ) -> None:
        """Put the job back as deferred with its try number raised; it runs again at `due_ms`."""
        expire_ms = due_ms - int(time.time() * 1000) + EXPIRES_EXTRA_MS
        await self._put_back(
            job, keys.deferred(job.queue), f"{job.priority}:{job.job_id}", due_ms, expire_ms,
            event, live, "scheduling a retry",
        )  # fmt: skip

    async def hand_back(self, job: ClaimedJob, event: dict[str, Any], live: bool) -> None:
        """Return an unfinished job to its old place in the queue, as a new try (worker shutting down)."""
        rank = ready_rank_ms(job.priority, job.enqueued_ms, self.aging_ms)
        await self._put_back(
            job, keys.queue(job.queue), job.job_id, rank, EXPIRES_EXTRA_MS, event, live,
            "handing a job back",
        )  # fmt: skip

    async def _put_back(
        self, job: ClaimedJob, zset: str, member: str, score: int, expire_ms: int,
        event: dict[str, Any], live: bool, what: str,
    ) -> None:  # fmt: skip
        """One try further: definition rewritten, `member` added to `zset`, running entry gone."""

        async def write() -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(keys.job(job.job_id), _next_try(job), px=expire_ms)
                pipe.zadd(zset, {member: score})
                pipe.hdel(keys.running(job.queue), job.job_id)
                pipe.lpush(keys.wake(job.queue), "1")
                pipe.ltrim(keys.wake(job.queue), 0, WAKE_TOKENS_MAX - 1)
                events.add_to(pipe, event, live)
                await pipe.execute()

        await persist(what, write)

    async def publish(self, event: dict[str, Any], live: bool) -> None:
        """Write a progress event; while Redis is away it is dropped (the next one supersedes it)."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                events.add_to(pipe, event, live)
                await pipe.execute()
        except REDIS_DOWN:
            pass


def stored_result(
    job_id: str, task: str, kwargs: dict[str, Any], try_number: int, enqueued_ms: int, queue: str,
    success: bool, result: Any, started_ms: int, finished_ms: int,
) -> bytes:  # fmt: skip
    """A finished job's result in arq's format, as `arq:result:<id>` holds it."""
    stored = serialize_result(
        task, (), kwargs, try_number, enqueued_ms, success, result, started_ms, finished_ms,
        f"{job_id}:{task}", keys.queue(queue), job_id, serializer=dumps,
    )  # fmt: skip
    assert stored is not None  # dumps turns anything into JSON (default=str)
    return stored


def definition(
    task: str, kwargs: dict[str, Any], try_number: int, enqueued_ms: int, priority: int
) -> bytes:
    """A job definition in arq's shape (t, f, a, k, et) plus its priority (p), as JSON."""
    return dumps(
        {"t": try_number, "f": task, "a": [], "k": kwargs, "et": enqueued_ms, "p": priority}
    )


def _next_try(job: ClaimedJob) -> bytes:
    """The job's definition with its try number raised by one."""
    return definition(job.task, job.kwargs, job.try_number + 1, job.enqueued_ms, job.priority)
