"""`voicepipe bench engine`: voicepipe against plain arq on the same Redis, no-op jobs, one run.

Throughput: W worker processes of each system (arq with poll_delay 0.01 s, the same concurrency)
drain N no-op jobs that all become due at the same instant; jobs/s = N / (last finish - due time).
Latency: sequential jobs on one idle worker, enqueue -> the job's own start time. Idle CPU: one idle
voicepipe worker process over 10 s. Recording: the run's jobs found in PostgreSQL as `success`;
the workers keep running until they are all there, and jobs/s until then is reported too (the
recorder steps aside while its worker bursts through jobs, so history trails a burst by seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psutil
from arq.connections import ArqRedis
from arq.constants import result_key_prefix
from arq.jobs import deserialize_result
from redis.exceptions import ResponseError

from voicepipe import keys
from voicepipe.bench.arq_worker import BASELINE_QUEUE, health_check_key
from voicepipe.bench.waiting import percentile, until
from voicepipe.db.jobs import count_with_status
from voicepipe.engine import broker as broker_module
from voicepipe.engine.heartbeats import live_worker_ids
from voicepipe.engine.registry import broker_for
from voicepipe.resources import Resources
from voicepipe.settings import child_environment
from voicepipe.tasks.bench import noop

Progress = Callable[[str], None]
# Jobs are enqueued ahead, all due at one instant this far ahead (per job), so that enqueueing
# is over before the clock starts on a loaded machine too.
ENQUEUE_PLAN_PER_S = 2500


@dataclass(frozen=True)
class EngineBench:
    resources: Resources
    jobs: int
    workers: int
    concurrency: int
    say: Progress
    leftovers: list[str] = field(default_factory=list)  # the last round's result keys

    async def _fresh_server(self) -> None:
        """Start every round alike: the last round's results gone and the append-only file
        compacted. Otherwise Valkey's automatic rewrite (a forked child busy on a core for a
        while) lands in some rounds and not others, by how much earlier rounds wrote."""
        redis = self.resources.redis
        for start in range(0, len(self.leftovers), 1000):
            await redis.unlink(*self.leftovers[start : start + 1000])
        self.leftovers.clear()
        if (await redis.config_get("appendonly")).get("appendonly") != "yes":
            return
        with contextlib.suppress(ResponseError):  # one is running already: wait for it below
            await redis.execute_command("BGREWRITEAOF")  # type: ignore[no-untyped-call]

        async def rewritten() -> bool:
            info = await redis.info("persistence")
            return not (info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"])

        await until(rewritten, 120, "the append-only file rewrite", every_s=0.05)

    def _env(self) -> dict[str, str]:
        return child_environment(self.resources.settings, {"VOICEPIPE_LOG_LEVEL": "WARNING"})

    def _start(self, argvs: list[list[str]]) -> list[subprocess.Popen[bytes]]:
        return [subprocess.Popen(a, env=self._env(), stdin=subprocess.DEVNULL) for a in argvs]

    async def _stop(self, procs: list[subprocess.Popen[bytes]]) -> None:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            await asyncio.to_thread(proc.wait, 30)

    # -- plain arq -------------------------------------------------------------------------
    def _arq_workers(self, n: int) -> list[subprocess.Popen[bytes]]:
        # arq's workers get the CPU priority voicepipe's give themselves (VOICEPIPE_WORKER_NICE)
        argv = ["nice", "-n", str(self.resources.settings.worker_nice), sys.executable, "-m",
                "voicepipe.bench.arq_worker", str(self.resources.settings.redis_url), str(self.concurrency)]  # fmt: skip
        return self._start([[*argv, str(i)] for i in range(n)])

    async def arq_throughput(self) -> float:
        redis = self.resources.redis
        await self._fresh_server()
        procs = self._arq_workers(self.workers)
        try:
            await until(lambda: _arq_ready(redis, self.workers), 60, "arq workers to start")
            due = time.time() + 1.0 + self.jobs / ENQUEUE_PLAN_PER_S
            ids = [f"arq-bench-{uuid.uuid4().hex}" for _ in range(self.jobs)]
            for start in range(0, self.jobs, 500):
                await asyncio.gather(*(
                    redis.enqueue_job("noop", _job_id=i, _queue_name=BASELINE_QUEUE,
                                      _defer_until=datetime.fromtimestamp(due, UTC))
                    for i in ids[start : start + 500]
                ))  # fmt: skip
            if time.time() > due:
                self.say("  warning: arq's enqueueing overran the due time; its figure includes it")
            self.leftovers.extend(result_key_prefix + i for i in ids)
            finished = await _finish_times(
                redis, ids, lambda: _arq_drained(redis), deserializer=None
            )
            return self.jobs / (max(finished) - due)
        finally:
            await self._stop(procs)

    async def arq_latency_ms(self, samples: int) -> list[float]:
        redis = self.resources.redis
        procs = self._arq_workers(1)
        try:
            await until(lambda: _arq_ready(redis, 1), 60, "an arq worker to start")
            latencies = []
            for _ in range(samples):
                sent = time.time()
                job = await redis.enqueue_job("noop", _queue_name=BASELINE_QUEUE)
                assert job is not None
                started = await job.result(timeout=10, poll_delay=0.002)
                latencies.append((started - sent) * 1000)
            return latencies
        finally:
            await self._stop(procs)

    # -- voicepipe -------------------------------------------------------------------------
    def _voicepipe_workers(self, n: int) -> list[subprocess.Popen[bytes]]:
        argv = [sys.executable, "-m", "voicepipe", "worker", "--no-supervise", "--queues", "default",
                "--concurrency", str(self.concurrency)]  # fmt: skip
        return self._start([argv] * n)

    async def voicepipe_throughput(self) -> tuple[float, float, int]:
        """Jobs/s until the last job finished, jobs/s until the last one was recorded, and how many were.

        The workers keep running until their recorders have caught up: history is part of the work.
        """
        redis = self.resources.redis
        await self._fresh_server()
        procs = self._voicepipe_workers(self.workers)
        try:
            await until(
                lambda: _voicepipe_ready(redis, self.workers), 60, "voicepipe workers to start"
            )
            due = time.time() + 1.0 + self.jobs / ENQUEUE_PLAN_PER_S
            eta = datetime.fromtimestamp(due, UTC)
            specs = [noop.spec(self.resources, {}, eta=eta) for _ in range(self.jobs)]
            broker = broker_for(self.resources)
            for start in range(0, self.jobs, 1000):
                await broker.enqueue(specs[start : start + 1000])
            if time.time() > due:
                self.say("  warning: enqueueing overran the due time; the figure includes it")
            ids = [s.job_id for s in specs]
            self.leftovers.extend(keys.result(i) for i in ids)
            finished = await _finish_times(
                redis, ids, lambda: _voicepipe_drained(redis), deserializer=broker_module.loads
            )
            recorded = await self.recorded(ids)
            recorded_at = time.time()
            return self.jobs / (max(finished) - due), self.jobs / (recorded_at - due), recorded
        finally:
            await self._stop(procs)

    async def voicepipe_latency_and_idle(
        self, samples: int, idle_s: float
    ) -> tuple[list[float], float]:
        procs = self._voicepipe_workers(1)
        try:
            await until(lambda: _voicepipe_ready(self.resources.redis, 1), 60, "a voicepipe worker")
            latencies = []
            for _ in range(samples):
                sent = time.time()
                handle = await noop.enqueue(self.resources)
                started = await handle.result(timeout_s=10)
                latencies.append((started - sent) * 1000)
            await asyncio.sleep(2)  # let the recorder catch up, so idle means idle
            process = psutil.Process(procs[0].pid)
            before = process.cpu_times()
            await asyncio.sleep(idle_s)
            after = process.cpu_times()
            used_s = (after.user - before.user) + (after.system - before.system)
            return latencies, 100 * used_s / idle_s
        finally:
            await self._stop(procs)

    async def recorded(self, ids: list[str], timeout_s: float = 120) -> int:
        async def all_there() -> bool:
            return await count_with_status(self.resources.db, ids, "success") == len(ids)

        with contextlib.suppress(TimeoutError):  # report how many made it instead
            # a count over every id is not free: ask four times a second, not fifty
            await until(all_there, timeout_s, "every job to be recorded", every_s=0.25)
        return await count_with_status(self.resources.db, ids, "success")


async def run_engine_bench(
    bench: EngineBench, repeat: int, latency_samples: int, idle_s: float
) -> dict[str, Any]:
    arq_rates, vp_rates, recorded_rates, recorded = [], [], [], []
    for n in range(1, repeat + 1):
        bench.say(f"round {n}/{repeat}: plain arq, {bench.workers} worker(s), {bench.jobs} jobs")
        arq_rates.append(await bench.arq_throughput())
        bench.say(f"round {n}/{repeat}: voicepipe, {bench.workers} worker(s), {bench.jobs} jobs")
        rate, recorded_rate, count = await bench.voicepipe_throughput()
        vp_rates.append(rate)
        recorded_rates.append(recorded_rate)
        recorded.append(count)
        bench.say(f"  arq {arq_rates[-1]:.0f} jobs/s, voicepipe {rate:.0f} jobs/s "
                  f"({recorded_rate:.0f} jobs/s until all {count} were in PostgreSQL)")  # fmt: skip
    bench.say(f"latency: {latency_samples} sequential jobs on an idle worker, each system")
    arq_latency = await bench.arq_latency_ms(latency_samples)
    vp_latency, idle_pct = await bench.voicepipe_latency_and_idle(latency_samples, idle_s)
    arq_median, vp_median = statistics.median(arq_rates), statistics.median(vp_rates)
    return {
        "jobs": bench.jobs,
        "workers": bench.workers,
        "concurrency": bench.concurrency,
        "repeat": repeat,
        "arq_jobs_per_s": round(arq_median, 1),
        "voicepipe_jobs_per_s": round(vp_median, 1),
        "throughput_ratio_vs_arq": round(vp_median / arq_median, 3),
        "voicepipe_recorded_jobs_per_s": round(statistics.median(recorded_rates), 1),
        "arq_latency_p50_ms": round(percentile(arq_latency, 50), 3),
        "latency_p50_ms": round(percentile(vp_latency, 50), 3),
        "latency_p99_ms": round(percentile(vp_latency, 99), 3),
        "idle_cpu_pct": round(idle_pct, 3),
        "jobs_recorded": min(recorded),
        "cpu_count": os.cpu_count(),
    }


async def _arq_ready(redis: ArqRedis, n: int) -> bool:
    return bool(await redis.exists(*(health_check_key(str(i)) for i in range(n))) == n)


async def _voicepipe_ready(redis: ArqRedis, n: int) -> bool:
    return len(await live_worker_ids(redis)) >= n


async def _finish_times(
    redis: ArqRedis, ids: list[str], drained: Callable[[], Awaitable[bool]], deserializer: Any
) -> list[float]:
    """Wait until the queue is drained (a cheap check), then read every job's finish time.

    The times come from the jobs' own results, so the check need not be frequent: asked ten times a
    second, it takes next to no CPU from the workers being measured.
    """
    await until(drained, 600, "the queue to drain", every_s=0.1)
    finished: list[float] = []
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        for job_id, value in zip(
            chunk, await redis.mget([keys.result(i) for i in chunk]), strict=True
        ):
            if value is None:
                raise RuntimeError(f"job {job_id} has no result after the queue drained")
            finished.append(
                deserialize_result(value, deserializer=deserializer).finish_time.timestamp()
            )
    return finished


async def _arq_drained(redis: ArqRedis) -> bool:
    # arq removes a job from its queue only when it has finished.
    return bool(await redis.zcard(BASELINE_QUEUE) == 0)


async def _voicepipe_drained(redis: ArqRedis) -> bool:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(keys.queue("default"))
        pipe.zcard(keys.deferred("default"))
        pipe.hlen(keys.running("default"))
        return bool(sum(await pipe.execute()) == 0)
