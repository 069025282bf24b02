"""`voicepipe bench chaos`: idempotent jobs through two supervised workers killed with -9 at random.

Two `voicepipe worker` processes run under the supervisor `voicepipe up` uses (it respawns a dead
one). N `chaos_nap` jobs are enqueued, each sleeping a random 0.2-1 s and counting its starts; K
times, at random moments spread over the run, one worker with jobs in hand is killed with SIGKILL
while the other is alive, and S times one is stopped with SIGSTOP past its heartbeat expiry and
then continued (voicepipe.bench.chaos_faults). Optionally PostgreSQL is stopped for a while in the
middle. At the end every job's outcome is read from PostgreSQL, and each released job's recovery
time is measured from its recorded history: the kill or stop to the job's next `started` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from voicepipe import keys
from voicepipe.bench.chaos_faults import STALL_S, Faults, Say, fault_plan
from voicepipe.bench.chaos_report import Recoveries, outcomes, recoveries
from voicepipe.bench.waiting import until
from voicepipe.embedded.postgres import EmbeddedPostgres
from voicepipe.embedded.supervisor import Child, Supervisor, voicepipe_argv
from voicepipe.engine.registry import broker_for
from voicepipe.history.recorder import record_pending
from voicepipe.resources import Resources
from voicepipe.settings import child_environment
from voicepipe.tasks.chaos import chaos_nap

WORKERS = 2


@dataclass
class ChaosBench:
    resources: Resources
    jobs: int
    kills: int
    concurrency: int = 5
    min_s: float = 0.2
    max_s: float = 1.0
    seed: int = 0
    pg_outage_s: float = 0.0
    stalls: int = 0
    stall_s: float = STALL_S
    postgres: EmbeddedPostgres | None = None
    progress: Say = field(default=lambda line: None)
    run_id: str = field(default_factory=lambda: os.urandom(4).hex())
    pg_back_at: float = 0.0  # when PostgreSQL came back after the outage

    def children(self) -> list[Child]:
        env = child_environment(
            self.resources.settings,
            {"VOICEPIPE_LOG_LEVEL": "WARNING", "VOICEPIPE_CPU_WORKERS": "1"},
        )
        argv = voicepipe_argv("worker", "--no-supervise", "--queues", "default",
                              "--concurrency", str(self.concurrency))  # fmt: skip
        return [Child(f"worker-{n}", argv, env) for n in range(1, WORKERS + 1)]

    def expected_s(self) -> float:
        """How long the run takes without kills: the jobs' total sleep over every slot."""
        return self.jobs * (self.min_s + self.max_s) / 2 / (WORKERS * self.concurrency)


async def run_chaos_bench(bench: ChaosBench) -> dict[str, Any]:
    rng = random.Random(bench.seed)
    children = bench.children()
    faults = Faults(bench.resources, children, bench.progress, bench.stall_s)
    supervisor = Supervisor(children, stop_timeout_s=15)
    stop_supervising = asyncio.Event()
    supervising = asyncio.create_task(supervisor.run(stop_supervising), name="supervisor")
    try:
        await until(faults.all_up, 60, "two workers to start", every_s=0.05)
        ids = await _enqueue(bench, rng)
        # The stalls draw from their own source, so a seed's kills are the same with or without.
        stall_rng = random.Random(f"{bench.seed}:stalls")
        plan = fault_plan(bench.kills, bench.stalls, bench.expected_s(), rng, stall_rng)
        started = time.time()
        faults.start(plan, started, rng, stall_rng)
        outage = asyncio.create_task(_pg_outage(bench, started))
        timeout_s = bench.expected_s() * 4 + 120 + bench.pg_outage_s + bench.stalls * bench.stall_s
        await _watch(bench, faults, ids, timeout_s)
        finished_s = time.time() - started
        await faults.over()
        await asyncio.gather(outage, return_exceptions=True)
        # The workers' own recorders bring the history up to date (after an outage too).
        with contextlib.suppress(TimeoutError):
            await until(
                lambda: _all_recorded(bench, ids),
                120,
                "the workers to record every job",
                every_s=0.05,
            )
        # From the last job's end, or PostgreSQL's return if later, to every job recorded.
        history_lag_s = time.time() - max(started + finished_s, bench.pg_back_at)
    finally:
        await faults.over()  # never leave a worker stopped
        stop_supervising.set()
        await supervising
    bench.progress("recording what is left in the event stream")
    await record_pending(bench.resources, "chaos-bench", claim_idle_s=0.0, timeout_s=60)
    statuses, recorded = await outcomes(bench.resources, ids)
    times = await recoveries(bench.resources, ids, faults.done)
    runs = await bench.resources.redis.hgetall(keys.chaos_runs(bench.run_id))  # type: ignore[misc]
    done = await bench.resources.redis.hlen(keys.chaos_done(bench.run_id))  # type: ignore[misc]
    await bench.resources.redis.delete(keys.chaos_runs(bench.run_id), keys.chaos_done(bench.run_id))
    return {
        "jobs": bench.jobs,
        "kills": faults.count("kill"),
        "stalls": faults.count("stall"),
        "lost": bench.jobs - statuses.get("success", 0) - statuses.get("failure", 0),
        "failed": statuses.get("failure", 0),
        "final_not_success": bench.jobs - statuses.get("success", 0),
        "ran_twice": sum(1 for n in runs.values() if int(n) >= 2),
        **_release_figures(times),
        "marked_done": done,
        "recorded": recorded,
        "statuses": statuses,
        "workers": WORKERS,
        "concurrency": bench.concurrency,
        "restarts": sum(child.restarts for child in children),
        "pg_outage_s": bench.pg_outage_s,
        "stall_s": bench.stall_s,
        "duration_s": round(finished_s, 2),
        "history_lag_s": round(history_lag_s, 2),
        "expected_s": round(bench.expected_s(), 2),
        "seed": bench.seed,
        "cpu_count": os.cpu_count(),
    }


def _release_figures(times: Recoveries) -> dict[str, Any]:
    """Kills' and stalls' releases apart; releases that no fault explains are false alarms."""
    killed, stalled = times.killed, times.stalled
    return {
        "recovery_s_max": _max(killed.recovery_s),
        "recovery_s_p50": _p50(killed.recovery_s),
        "released_s_max": _max(killed.released_s),
        "orphaned": len(killed.jobs),
        "releases": len(killed.released_s),
        "stall_recovery_s_max": _max(stalled.recovery_s),
        "stall_recovery_s_p50": _p50(stalled.recovery_s),
        "stall_released": len(stalled.jobs),
        "stall_releases": len(stalled.released_s),
        "stale_outcomes": times.stale,
        "orphaned_unkilled": times.unfaulted,
    }


def _max(values: list[float]) -> float | None:
    return round(max(values), 3) if values else None


def _p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


async def _enqueue(bench: ChaosBench, rng: random.Random) -> list[str]:
    specs = [
        chaos_nap.spec(
            bench.resources,
            {"seconds": round(rng.uniform(bench.min_s, bench.max_s), 3), "run_id": bench.run_id},
        )
        for _ in range(bench.jobs)
    ]
    broker = broker_for(bench.resources)
    for start in range(0, len(specs), 500):
        await broker.enqueue(specs[start : start + 500])
    return [spec.job_id for spec in specs]


async def _pg_outage(bench: ChaosBench, started: float) -> None:
    if not bench.pg_outage_s or bench.postgres is None:
        return
    await asyncio.sleep(max(0.0, started + 0.3 * bench.expected_s() - time.time()))
    bench.progress(f"stopping PostgreSQL for {bench.pg_outage_s:g}s")
    await asyncio.to_thread(bench.postgres.stop)
    await asyncio.sleep(bench.pg_outage_s)
    await asyncio.to_thread(bench.postgres.start)
    bench.pg_back_at = time.time()
    bench.progress("PostgreSQL is back")


async def _watch(bench: ChaosBench, faults: Faults, ids: list[str], timeout_s: float) -> None:
    """Wait until every job has a result, drawing a progress bar on stderr."""
    redis = bench.resources.redis
    deadline = time.monotonic() + timeout_s
    while True:
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.exists(keys.result(job_id))
            done = sum(await pipe.execute())
        _bar(done, len(ids), f"{faults.count('kill')}/{bench.kills} kills, "
             f"{faults.count('stall')}/{bench.stalls} stalls")  # fmt: skip
        if done == len(ids) or time.monotonic() > deadline:
            print(file=sys.stderr)
            return
        await asyncio.sleep(0.5)


def _bar(done: int, total: int, faults: str, width: int = 30) -> None:
    filled = width * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} jobs done, {faults}",
          end="", file=sys.stderr, flush=True)  # fmt: skip


async def _all_recorded(bench: ChaosBench, ids: list[str]) -> bool:
    try:
        statuses, _ = await outcomes(bench.resources, ids)
    except Exception:  # PostgreSQL not back yet
        return False
    return statuses.get("success", 0) + statuses.get("failure", 0) == len(ids)
