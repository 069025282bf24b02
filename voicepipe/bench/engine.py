"""`voicepipe bench engine`: voicepipe against plain arq and SAQ on the same servers, no-op jobs.

Each round runs every system once (arq in each of its four configurations), in an order that
rotates from round to round. A run starts W worker processes, enqueues N jobs that all become due
at one instant, and ends when every result is written (arq, SAQ) or every job is found `success`
in PostgreSQL (voicepipe). engine_report.METHOD says the rest; engine_report turns runs into figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
from redis.exceptions import ResponseError

from voicepipe.bench.cpu import CpuMeter, postgres_pid, total_s, used_s
from voicepipe.bench.engine_arq import ArqSide, arq_configs
from voicepipe.bench.engine_report import BenchOptions, Results, RoundResult, figures
from voicepipe.bench.engine_saq import SaqSide, saq_queue
from voicepipe.bench.engine_voicepipe import VoicepipeSide
from voicepipe.bench.waiting import until
from voicepipe.db import bulk
from voicepipe.resources import Resources
from voicepipe.settings import child_environment

Progress = Callable[[str], None]
# Jobs are enqueued ahead, all due at one instant this far ahead (per job), so that enqueueing
# is over before the clock starts on a loaded machine too.
ENQUEUE_PLAN_PER_S = 2500
SYSTEMS = ("arq", "saq", "voicepipe")


class System(Protocol):
    """One side of the comparison (engine_arq, engine_saq, engine_voicepipe)."""

    @property
    def name(self) -> str: ...  # "arq", "saq", "voicepipe": the figures' prefix
    @property
    def label(self) -> str: ...  # for progress lines
    @property
    def uses_postgres(self) -> bool: ...  # its CPU counts PostgreSQL's too
    @property
    def counted_from_enqueue(self) -> frozenset[str]: ...  # groups whose CPU counts before due
    @property
    def renices_itself(self) -> bool: ...  # else its workers are started under `nice -n`

    def worker_argvs(self, n: int) -> list[list[str]]: ...
    async def ready(self) -> bool: ...  # every worker of the last worker_argvs is serving
    async def enqueue(self, n: int, due_s: float) -> list[str]: ...  # the jobs' ids
    async def release(self) -> None: ...  # at the due time
    async def drained(self) -> bool: ...  # a cheap check: no job waiting or running
    # voicepipe: (how many of `ids` are recorded, when that was found); None: nothing to record
    async def recorded(self, ids: list[str]) -> tuple[int, float] | None: ...
    async def finish_times(self, ids: list[str]) -> list[float]: ...  # from the stored results
    def leftover_keys(self, ids: list[str]) -> list[str]: ...  # deleted before the next run
    async def start_time(self) -> tuple[float, float]: ...  # one job: (sent, its own start)
    async def quiet(self) -> None: ...  # after the latency jobs: until nothing trails them


def round_order(index: int) -> list[str]:
    """arq, saq, voicepipe / voicepipe, arq, saq / saq, voicepipe, arq / …"""
    shift = index % len(SYSTEMS)
    return [*SYSTEMS[len(SYSTEMS) - shift :], *SYSTEMS[: len(SYSTEMS) - shift]]


@dataclass
class EngineBench:
    resources: Resources
    options: BenchOptions
    say: Progress
    postgres_pid: int | None  # the postmaster; None: not on this machine
    probe_pid: int  # the driver's PostgreSQL backend, left out of PostgreSQL's CPU
    warnings: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # the last run's per-job keys

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)
            self.say(f"  warning: {text}")

    async def throughput(self, system: System) -> RoundResult:
        await self._fresh_servers()
        jobs = self.options.jobs
        async with self._workers(system, self.options.workers) as meter:
            due_s = time.time() + 1.0 + jobs / ENQUEUE_PLAN_PER_S
            at_enqueue = await meter.read()
            ids = await system.enqueue(jobs, due_s)
            self.leftovers.extend(system.leftover_keys(ids))
            if (late_s := time.time() - due_s) > 0:
                self.warn(f"{system.label}: enqueueing overran the due time by {late_s:.2f} s; "
                          "its jobs/s include it")  # fmt: skip
            await asyncio.sleep(max(0.0, due_s - 0.01 - time.time()))
            at_due = await meter.read()
            await asyncio.sleep(max(0.0, due_s - time.time()))
            await system.release()
            # Finish times come from the jobs' results, so ten checks a second are precise enough.
            await until(system.drained, 600, f"{system.label}'s queue to drain", every_s=0.1)
            recorded = await system.recorded(ids)
            at_end = await meter.read()
        start = {g: (at_enqueue if g in system.counted_from_enqueue else at_due)[g] for g in at_end}
        finished = await system.finish_times(ids)
        if recorded is not None and recorded[0] < jobs:
            self.warn(f"{system.label}: only {recorded[0]} of {jobs} jobs were recorded")
        return RoundResult(
            jobs_per_s=jobs / (max(finished) - due_s),
            recorded_jobs_per_s=None if recorded is None else jobs / (recorded[1] - due_s),
            recorded=None if recorded is None else recorded[0],
            cpu_s=used_s(start, at_end),
        )

    async def latency_and_idle(self, system: System) -> tuple[list[float], float | None]:
        """Enqueue -> start of sequential jobs on one idle worker; then that worker's and its
        servers' CPU, in percent of one core, over `idle_s`."""
        await self._fresh_servers()
        async with self._workers(system, 1) as meter:
            latencies = []
            for _ in range(self.options.latency_samples):
                sent, started = await system.start_time()
                latencies.append((started - sent) * 1000)
            await system.quiet()
            before, started_at = await meter.read(), time.monotonic()
            await asyncio.sleep(self.options.idle_s)  # the measurement itself, not a wait
            used = total_s(used_s(before, await meter.read()))
            elapsed_s = time.monotonic() - started_at
        return latencies, None if used is None else 100 * used / elapsed_s

    @asynccontextmanager
    async def _workers(self, system: System, n: int) -> AsyncIterator[CpuMeter]:
        """`n` worker processes of `system`, ready; a meter of their CPU and their servers'."""
        procs = self._start(system, n)
        try:
            await until(system.ready, 60, f"{system.label} workers to start")
            roots: dict[str, list[int] | None] = {"workers": [p.pid for p in procs]}
            if system.uses_postgres:
                roots["postgres"] = None if self.postgres_pid is None else [self.postgres_pid]
            yield CpuMeter(roots, self.resources.redis, frozenset({self.probe_pid}))
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                await asyncio.to_thread(proc.wait, 30)

    def _start(self, system: System, n: int) -> list[subprocess.Popen[bytes]]:
        env = child_environment(self.resources.settings, {"VOICEPIPE_LOG_LEVEL": "WARNING"})
        nice = [] if system.renices_itself else ["nice", "-n", str(self.options.nice)]
        return [
            subprocess.Popen([*nice, *argv], env=env, stdin=subprocess.DEVNULL)
            for argv in system.worker_argvs(n)
        ]

    async def _fresh_servers(self) -> None:
        """Start every run alike: the last run's results gone, Valkey's append-only file compacted
        (else its automatic rewrite, a forked child busy on a core, lands in some runs and not
        others), PostgreSQL checkpointed and vacuumed (else one round's dead rows and dirty pages
        slow the next)."""
        redis = self.resources.redis
        for start in range(0, len(self.leftovers), 1000):
            await redis.unlink(*self.leftovers[start : start + 1000])
        self.leftovers.clear()
        if (await redis.config_get("appendonly")).get("appendonly") == "yes":
            with contextlib.suppress(ResponseError):  # one is running already: wait for it below
                await redis.execute_command("BGREWRITEAOF")  # type: ignore[no-untyped-call]

            async def rewritten() -> bool:
                info = await redis.info("persistence")
                return not (info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"])

            await until(rewritten, 120, "the append-only file rewrite", every_s=0.05)
        async with self.resources.db.acquire() as conn:
            await bulk.vacuum_analyze_history(conn)
            if not await bulk.checkpoint(conn):
                self.warn("PostgreSQL refused CHECKPOINT (not a superuser): runs are vacuumed only")


async def run_engine_bench(
    resources: Resources, options: BenchOptions, say: Progress
) -> dict[str, Any]:
    settings = resources.settings
    assert settings.redis_url is not None and settings.database_url is not None
    async with contextlib.AsyncExitStack() as stack:
        probe = await asyncpg.connect(settings.database_url)
        stack.push_async_callback(probe.close)
        queue = await stack.enter_async_context(saq_queue(settings.redis_url))
        bench = EngineBench(resources, options, say, postgres_pid(settings), probe.get_server_pid())
        if bench.postgres_pid is None:
            bench.warn("PostgreSQL is not on this machine: voicepipe's CPU figures are null")
        arq = [ArqSide(resources.redis, settings.redis_url, c) for c in arq_configs(options.concurrency)]  # fmt: skip
        saq = SaqSide(queue, settings.redis_url, options.concurrency)
        voicepipe = VoicepipeSide(resources, options.concurrency, probe)
        results = Results(arq={side.config: [] for side in arq})
        for index in range(options.repeat):
            results.orders.append(round_order(index))
            shift = index % len(arq)  # arq's configurations take turns going first too
            by_name: dict[str, list[System]] = {
                "arq": [*arq[shift:], *arq[:shift]], "saq": [saq], "voicepipe": [voicepipe]
            }  # fmt: skip
            for system in (s for name in results.orders[-1] for s in by_name[name]):
                say(f"round {index + 1}/{options.repeat}: {system.label}, "
                    f"{options.workers} worker(s), {options.jobs} jobs")  # fmt: skip
                result = await bench.throughput(system)
                say(f"  {result.summary(options.jobs)}")
                results.add(system.name, result, system.config if isinstance(system, ArqSide) else None)  # fmt: skip
        best = next(side for side in arq if side.config == results.best_arq())
        say(f"latency: {options.latency_samples} sequential jobs on an idle worker of each system "
            f"({best.label}), then {options.idle_s:g} s idle")  # fmt: skip
        for system in (best, saq, voicepipe):
            latencies, idle_pct = await bench.latency_and_idle(system)
            results.latency_ms[system.name], results.idle_pct[system.name] = latencies, idle_pct
    return figures(options, results, bench.warnings)
