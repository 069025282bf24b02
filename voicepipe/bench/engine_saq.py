"""The engine benchmark's SAQ side: SAQ workers (BLMOVE per concurrency slot) on the same Valkey."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from saq.job import Status
from saq.queue.redis import RedisQueue

from voicepipe.bench.saq_worker import SAQ_QUEUE, worker_info_key


@asynccontextmanager
async def saq_queue(redis_url: str) -> AsyncIterator[RedisQueue]:
    """The driver's handle on the workers' queue: enqueueing, scheduling, reading jobs back."""
    logging.getLogger("saq").setLevel(logging.WARNING)  # not a line per job enqueued
    queue = RedisQueue.from_url(redis_url, name=SAQ_QUEUE)
    await queue.connect()
    try:
        yield queue
    finally:
        await queue.disconnect()


@dataclass
class SaqSide:
    queue: RedisQueue
    redis_url: str
    concurrency: int
    name: str = "saq"
    label: str = "saq"
    uses_postgres: bool = False
    counted_from_enqueue: frozenset[str] = frozenset()  # before the due time SAQ only waits
    renices_itself: bool = False
    _ids: list[str] = field(default_factory=list)

    def worker_argvs(self, n: int) -> list[list[str]]:
        run = uuid.uuid4().hex[:8]  # a fresh worker id per start: no info key is left over
        self._ids = [f"{run}-{i}" for i in range(n)]
        return [
            [sys.executable, "-m", "voicepipe.bench.saq_worker", self.redis_url,
             str(self.concurrency), worker_id]
            for worker_id in self._ids
        ]  # fmt: skip

    async def ready(self) -> bool:
        keys = [worker_info_key(i) for i in self._ids]
        return bool(await self.queue.redis.exists(*keys) == len(keys))

    async def enqueue(self, n: int, due_s: float) -> list[str]:
        keys: list[str] = []
        for start in range(0, n, 500):
            jobs = await asyncio.gather(
                *(self.queue.enqueue("noop", scheduled=due_s) for _ in range(min(500, n - start)))
            )
            keys += [job.key for job in jobs if job is not None]
        return keys

    async def release(self) -> None:
        """Move the due jobs to the ready list now, with SAQ's own scheduling step.

        SAQ's workers run that step once a second under a lock held whole seconds, so a burst would
        otherwise wait up to a second for it; the bench lifts the lock and runs it at the due time.
        """
        await self.queue.redis.delete(self.queue.namespace("schedule"))
        await self.queue.schedule()

    async def drained(self) -> bool:
        # A job leaves SAQ's incomplete set when it finishes.
        return await self.queue.count("incomplete") == 0

    async def recorded(self, ids: list[str]) -> tuple[int, float] | None:
        return None  # SAQ's record is its job in Redis: its round ends when every job is complete

    async def finish_times(self, ids: list[str]) -> list[float]:
        finished: list[float] = []
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            for key, job in zip(chunk, await self.queue.jobs(chunk), strict=True):
                if job is None or job.status != Status.COMPLETE:
                    raise RuntimeError(f"SAQ job {key} is not complete after the queue drained")
                finished.append(job.completed / 1000)
        return finished

    def leftover_keys(self, ids: list[str]) -> list[str]:
        return [self.queue.job_id(key) for key in ids]

    async def start_time(self) -> tuple[float, float]:
        sent = time.time()
        job = await self.queue.enqueue("noop")
        assert job is not None
        # Asked every 2 ms, as arq's result is: SAQ's own wait (pub/sub) misses a job that
        # finishes before it has subscribed, and then waits out its timeout.
        deadline = time.monotonic() + 10
        while (done := await self.queue.job(job.key)) is None or not done.completed:
            if time.monotonic() > deadline:
                raise TimeoutError(f"SAQ job {job.key} did not finish within 10 s")
            await asyncio.sleep(0.002)
        return sent, float(done.result)

    async def quiet(self) -> None:
        """Nothing trails a finished SAQ job."""
