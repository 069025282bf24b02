"""The engine benchmark's voicepipe side: `voicepipe worker` processes, history recorded included."""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from voicepipe import keys
from voicepipe.bench.engine_arq import result_finish_times
from voicepipe.bench.waiting import until
from voicepipe.db.job_rollups import counts_by_task_and_status
from voicepipe.db.jobs import count_with_status
from voicepipe.engine import broker as broker_module
from voicepipe.engine.heartbeats import live_worker_ids
from voicepipe.engine.registry import broker_for
from voicepipe.resources import Resources
from voicepipe.tasks.bench import noop

RECORDING_TIMEOUT_S = 120


@dataclass
class VoicepipeSide:
    resources: Resources
    concurrency: int
    probe: asyncpg.Connection  # the driver's own connection, its backend left out of the CPU
    name: str = "voicepipe"
    label: str = "voicepipe"
    uses_postgres: bool = True
    # The recorders write the queued jobs while the rest are being enqueued: that is work too.
    counted_from_enqueue: frozenset[str] = frozenset({"workers", "postgres"})
    renices_itself: bool = True  # by VOICEPIPE_WORKER_NICE
    _workers: int = 0
    _successes_before: int = 0
    _latency_ids: list[str] = field(default_factory=list)

    def worker_argvs(self, n: int) -> list[list[str]]:
        self._workers = n
        argv = [sys.executable, "-m", "voicepipe", "worker", "--no-supervise", "--queues", "default",
                "--concurrency", str(self.concurrency)]  # fmt: skip
        return [argv] * n

    async def ready(self) -> bool:
        return len(await live_worker_ids(self.resources.redis)) >= self._workers

    async def enqueue(self, n: int, due_s: float) -> list[str]:
        self._successes_before = await self._successes()
        eta = datetime.fromtimestamp(due_s, UTC)
        specs = [noop.spec(self.resources, {}, eta=eta) for _ in range(n)]
        broker = broker_for(self.resources)
        for start in range(0, n, 1000):
            await broker.enqueue(specs[start : start + 1000])
        return [s.job_id for s in specs]

    async def release(self) -> None:
        """Nothing to do at the due time: the workers wait for the first due job themselves."""

    async def drained(self) -> bool:
        redis = self.resources.redis
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.queue("default"))
            pipe.zcard(keys.deferred("default"))
            pipe.hlen(keys.running("default"))
            return bool(sum(await pipe.execute()) == 0)

    async def recorded(self, ids: list[str]) -> tuple[int, float]:
        """How many of `ids` are in PostgreSQL as `success`, and when the last was found there.

        Asked ten times a second of the rollup (a few rows); then the jobs' own rows are counted once.
        Should an earlier round's late rows have moved the rollup, the rows are asked until right.
        """
        deadline = time.monotonic() + RECORDING_TIMEOUT_S
        wanted = self._successes_before + len(ids)

        async def rollup_there() -> bool:
            return await self._successes() >= wanted

        async def rows_there() -> bool:
            return await count_with_status(self.probe, ids, "success") == len(ids)

        with contextlib.suppress(TimeoutError):  # report how many made it instead
            await until(rollup_there, RECORDING_TIMEOUT_S, "the rollup of this round", every_s=0.1)
        found_at = time.time()
        if not await rows_there():
            with contextlib.suppress(TimeoutError):
                remaining_s = max(0.0, deadline - time.monotonic())
                await until(rows_there, remaining_s, "every job to be recorded", every_s=0.25)
            found_at = time.time()
        return await count_with_status(self.probe, ids, "success"), found_at

    async def finish_times(self, ids: list[str]) -> list[float]:
        return await result_finish_times(
            self.resources.redis, ids, deserializer=broker_module.loads
        )

    def leftover_keys(self, ids: list[str]) -> list[str]:
        return [keys.result(i) for i in ids]

    async def start_time(self) -> tuple[float, float]:
        sent = time.time()
        handle = await noop.enqueue(self.resources)
        started: float = await handle.result(timeout_s=10)
        self._latency_ids.append(handle.job_id)
        return sent, started

    async def quiet(self) -> None:
        """Wait until the latency jobs are recorded, so that idle means idle."""
        ids, self._latency_ids = self._latency_ids, []

        async def all_there() -> bool:
            return await count_with_status(self.probe, ids, "success") == len(ids)

        await until(all_there, RECORDING_TIMEOUT_S, "the latency jobs to be recorded", every_s=0.25)

    async def _successes(self) -> int:
        rows = await counts_by_task_and_status(self.probe)
        return sum(n for task, status, n in rows if task == noop.name and status == "success")
