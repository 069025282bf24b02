"""The engine benchmark's arq side: plain arq workers in one of four configurations."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from arq.connections import ArqRedis
from arq.constants import result_key_prefix
from arq.jobs import deserialize_result

from voicepipe.bench.arq_worker import BASELINE_QUEUE, health_check_key


@dataclass(frozen=True)
class ArqConfig:
    max_jobs: int
    poll_delay_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"max_jobs": self.max_jobs, "poll_delay": self.poll_delay_s}


def arq_configs(concurrency: int) -> list[ArqConfig]:
    """arq at its best: our concurrency and ten times it, each polling every 10 ms and every 1 ms."""
    return [
        ArqConfig(max_jobs, poll_delay_s)
        for max_jobs in (concurrency, 10 * concurrency)
        for poll_delay_s in (0.01, 0.001)
    ]


@dataclass
class ArqSide:
    redis: ArqRedis
    redis_url: str
    config: ArqConfig
    name: str = "arq"
    uses_postgres: bool = False
    counted_from_enqueue: frozenset[str] = frozenset()  # before the due time arq only polls
    renices_itself: bool = False
    _names: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"arq max_jobs={self.config.max_jobs} poll_delay={self.config.poll_delay_s}"

    def worker_argvs(self, n: int) -> list[list[str]]:
        run = uuid.uuid4().hex[:8]  # a fresh health-check key per start: none is left over
        self._names = [f"{run}-{i}" for i in range(n)]
        return [
            [sys.executable, "-m", "voicepipe.bench.arq_worker", self.redis_url,
             str(self.config.max_jobs), str(self.config.poll_delay_s), name]
            for name in self._names
        ]  # fmt: skip

    async def ready(self) -> bool:
        keys = [health_check_key(name) for name in self._names]
        return bool(await self.redis.exists(*keys) == len(keys))

    async def enqueue(self, n: int, due_s: float) -> list[str]:
        ids = [f"arq-bench-{uuid.uuid4().hex}" for _ in range(n)]
        defer_until = datetime.fromtimestamp(due_s, UTC)
        for start in range(0, n, 500):
            await asyncio.gather(*(
                self.redis.enqueue_job("noop", _job_id=i, _queue_name=BASELINE_QUEUE,
                                       _defer_until=defer_until)
                for i in ids[start : start + 500]
            ))  # fmt: skip
        return ids

    async def release(self) -> None:
        """Nothing to do at the due time: arq's workers poll for due jobs themselves."""

    async def drained(self) -> bool:
        # arq removes a job from its queue only when it has finished.
        return bool(await self.redis.zcard(BASELINE_QUEUE) == 0)

    async def recorded(self, ids: list[str]) -> tuple[int, float] | None:
        return None  # arq keeps no history: its round ends when every result is written

    async def finish_times(self, ids: list[str]) -> list[float]:
        return await result_finish_times(self.redis, ids, deserializer=None)

    def leftover_keys(self, ids: list[str]) -> list[str]:
        return [result_key_prefix + i for i in ids]

    async def start_time(self) -> tuple[float, float]:
        sent = time.time()
        job = await self.redis.enqueue_job("noop", _queue_name=BASELINE_QUEUE)
        assert job is not None
        started: float = await job.result(timeout=10, poll_delay=0.002)
        return sent, started

    async def quiet(self) -> None:
        """Nothing trails a finished arq job."""


async def result_finish_times(redis: ArqRedis, ids: list[str], deserializer: Any) -> list[float]:
    """Every job's finish time from its arq-format result (arq's and voicepipe's alike)."""
    finished: list[float] = []
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        values = await redis.mget([result_key_prefix + i for i in chunk])
        for job_id, value in zip(chunk, values, strict=True):
            if value is None:
                raise RuntimeError(f"job {job_id} has no result after the queue drained")
            outcome = deserialize_result(value, deserializer=deserializer)
            finished.append(outcome.finish_time.timestamp())
    return finished
