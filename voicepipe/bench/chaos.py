"""`voicepipe bench chaos`: idempotent jobs through two supervised workers killed with -9 at random.

Two `voicepipe worker` processes run under the supervisor `voicepipe up` uses (it respawns a dead
one). N `chaos_nap` jobs are enqueued, each sleeping a random 0.2-1 s and counting its starts; K
times, at random moments spread over the run, one worker with jobs in hand is killed with SIGKILL
while the other is alive. Optionally PostgreSQL is stopped for a while in the middle. At the end
every job's outcome is read from PostgreSQL, and each orphaned job's recovery time is measured
from its recorded history: the kill to the job's next `started` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voicepipe import keys
from voicepipe.bench.chaos_report import outcomes, recoveries
from voicepipe.bench.waiting import until
from voicepipe.embedded.postgres import EmbeddedPostgres
from voicepipe.embedded.supervisor import Child, Supervisor, voicepipe_argv
from voicepipe.engine import heartbeats
from voicepipe.engine.registry import broker_for
from voicepipe.engine.running import running_entries
from voicepipe.history.recorder import record_pending
from voicepipe.resources import Resources
from voicepipe.settings import child_environment
from voicepipe.tasks.chaos import chaos_nap

Say = Callable[[str], None]
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
    postgres: EmbeddedPostgres | None = None
    progress: Say = field(default=lambda line: None)
    run_id: str = field(default_factory=lambda: os.urandom(4).hex())
    killed: dict[str, float] = field(default_factory=dict)  # worker id -> when it was killed
    pg_back_at: float = 0.0  # when PostgreSQL came back after the outage
    killed_pids: set[int] = field(default_factory=set)

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
    supervisor = Supervisor(children, stop_timeout_s=15)
    stop_supervising = asyncio.Event()
    supervising = asyncio.create_task(supervisor.run(stop_supervising), name="supervisor")
    try:
        await until(lambda: _all_up(bench, children), 60, "two workers to start", every_s=0.05)
        ids = await _enqueue(bench, rng)
        started = time.time()
        chaos = asyncio.create_task(_kill_at_random(bench, children, rng, started))
        outage = asyncio.create_task(_pg_outage(bench, started))
        await _watch(bench, ids, timeout_s=bench.expected_s() * 4 + 120 + bench.pg_outage_s)
        finished_s = time.time() - started
        chaos.cancel()
        await asyncio.gather(chaos, outage, return_exceptions=True)
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
        stop_supervising.set()
        await supervising
    bench.progress("recording what is left in the event stream")
    await record_pending(bench.resources, "chaos-bench", claim_idle_s=0.0, timeout_s=60)
    statuses, recorded = await outcomes(bench.resources, ids)
    times = await recoveries(bench.resources, ids, bench.killed)
    runs = await bench.resources.redis.hgetall(keys.chaos_runs(bench.run_id))  # type: ignore[misc]
    done = await bench.resources.redis.hlen(keys.chaos_done(bench.run_id))  # type: ignore[misc]
    await bench.resources.redis.delete(keys.chaos_runs(bench.run_id), keys.chaos_done(bench.run_id))
    return {
        "jobs": bench.jobs,
        "kills": len(bench.killed),
        "lost": bench.jobs - statuses.get("success", 0) - statuses.get("failure", 0),
        "failed": statuses.get("failure", 0),
        "ran_twice": sum(1 for n in runs.values() if int(n) >= 2),
        "recovery_s_max": round(max(times.recovery_s), 3) if times.recovery_s else None,
        "recovery_s_p50": round(statistics.median(times.recovery_s), 3)
        if times.recovery_s
        else None,
        "released_s_max": round(max(times.released_s), 3) if times.released_s else None,
        "orphaned": len(times.jobs),
        "releases": len(times.released_s),
        "orphaned_unkilled": times.unkilled,
        "marked_done": done,
        "recorded": recorded,
        "statuses": statuses,
        "workers": WORKERS,
        "concurrency": bench.concurrency,
        "restarts": sum(child.restarts for child in children),
        "pg_outage_s": bench.pg_outage_s,
        "duration_s": round(finished_s, 2),
        "history_lag_s": round(history_lag_s, 2),
        "expected_s": round(bench.expected_s(), 2),
        "seed": bench.seed,
        "cpu_count": os.cpu_count(),
    }


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


async def _kill_at_random(
    bench: ChaosBench, children: list[Child], rng: random.Random, started: float
) -> None:
    """K kills at random moments over the expected run, each of a worker with jobs in hand (if
    either has any) while the other is live."""
    moments = sorted(rng.uniform(0.1, 0.9) * bench.expected_s() for _ in range(bench.kills))
    for at_s in moments:
        await asyncio.sleep(max(0.0, started + at_s - time.time()))
        await until(
            lambda: _all_up(bench, children),
            120,
            "both workers to be up before a kill",
            every_s=0.05,
        )
        beats = await _beating(bench)
        busy = {e.worker for e in await running_entries(bench.resources.redis, ["default"])}
        with_jobs = [c for c in children if c.process and beats.get(c.process.pid) in busy]
        victim = rng.choice(with_jobs or children)
        assert victim.process is not None
        worker_id = beats[victim.process.pid]
        os.kill(victim.process.pid, signal.SIGKILL)
        bench.killed[worker_id] = time.time()
        bench.killed_pids.add(victim.process.pid)
        bench.progress(f"killed {victim.name} ({worker_id}) at {time.time() - started:.1f}s")


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


async def _watch(bench: ChaosBench, ids: list[str], timeout_s: float) -> None:
    """Wait until every job has a result, drawing a progress bar on stderr."""
    redis = bench.resources.redis
    deadline = time.monotonic() + timeout_s
    while True:
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.exists(keys.result(job_id))
            done = sum(await pipe.execute())
        _bar(done, len(ids), len(bench.killed), bench.kills)
        if done == len(ids) or time.monotonic() > deadline:
            print(file=sys.stderr)
            return
        await asyncio.sleep(0.5)


def _bar(done: int, total: int, kills: int, kills_planned: int, width: int = 30) -> None:
    filled = width * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} jobs done, "
          f"{kills}/{kills_planned} kills", end="", file=sys.stderr, flush=True)  # fmt: skip


async def _all_recorded(bench: ChaosBench, ids: list[str]) -> bool:
    try:
        statuses, _ = await outcomes(bench.resources, ids)
    except Exception:  # PostgreSQL not back yet
        return False
    return statuses.get("success", 0) + statuses.get("failure", 0) == len(ids)


async def _beating(bench: ChaosBench) -> dict[int, str]:
    """pid -> worker id of every worker whose heartbeat is live."""
    return {w["pid"]: w["id"] for w in await heartbeats.get_workers(bench.resources.redis)}


async def _all_up(bench: ChaosBench, children: list[Child]) -> bool:
    """Every child runs a process we did not kill (its death may not be noticed yet) that sends
    heartbeats."""
    beats = await _beating(bench)
    return all(
        c.process is not None and c.process.pid in beats and c.process.pid not in bench.killed_pids
        for c in children
    )
