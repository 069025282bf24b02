"""The engine benchmark's figures: medians of its runs, ratios, CPU per job, the method, the targets."""

from __future__ import annotations

import operator
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voicepipe.bench.cpu import CpuReading, total_s
from voicepipe.bench.engine_arq import ArqConfig
from voicepipe.bench.waiting import percentile

METHOD = (
    "Every round runs each system once on the same Valkey (voicepipe also on its PostgreSQL), in an "
    "order that rotates from round to round: {workers} worker process(es) each, {concurrency} jobs "
    "at once per worker, the same no-op job, results kept, uvloop, nice {nice}. {jobs} jobs are "
    "enqueued ahead, all due at one instant; jobs/s = jobs / (last finish - due), and voicepipe's "
    "until every job was found `success` in PostgreSQL (asked ten times a second). arq runs all "
    "four configurations (max_jobs {concurrency} and {arq_max}, poll_delay 0.01 and 0.001 s) in "
    "every round; the one with the best median is the baseline. SAQ's scheduling step (its workers "
    "run it once a second) is run at the due instant. Before each run the last run's results are "
    "deleted, Valkey's append-only file rewritten, and PostgreSQL checkpointed and VACUUM ANALYZEd. "
    "CPU: user + system seconds of the workers (psutil), the Valkey server (its INFO cpu) and, "
    "for voicepipe, every PostgreSQL process (psutil), from the due time to the end of the run "
    "(voicepipe's workers and PostgreSQL from the start of enqueueing: they record the queued "
    "jobs meanwhile), per job; the bench's own process and its PostgreSQL connection are left "
    "out, and so is the enqueueing's cost to Valkey. Latency: "
    "{latency_samples} sequential jobs on one idle worker, enqueue to the job's own start. Idle "
    "CPU: that worker and its servers over {idle_s:g} s, in percent of one core. Medians of "
    "{repeat} round(s)."
)
# (figure, comparison, bound: a number or another figure); reported, never asserted
TARGETS: tuple[tuple[str, str, float | str], ...] = (
    ("throughput_ratio_vs_arq", ">=", 1.5),
    ("throughput_ratio_vs_saq", ">=", 1.2),
    ("cpu_us_per_job", "<=", "arq_cpu_us_per_job"),
    ("latency_p50_ms", "<=", 2),
    ("latency_p99_ms", "<=", 10),
    ("idle_cpu_pct", "<=", 2),
    ("jobs_recorded", "==", "jobs"),
)
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
}


@dataclass(frozen=True)
class BenchOptions:
    jobs: int
    workers: int
    concurrency: int
    repeat: int
    latency_samples: int
    idle_s: float
    nice: int  # every system's workers run at this niceness (VOICEPIPE_WORKER_NICE)


@dataclass(frozen=True)
class RoundResult:
    """One system's throughput run."""

    jobs_per_s: float  # until the last job finished (its result written)
    recorded_jobs_per_s: float | None  # voicepipe: until every job was found in PostgreSQL
    recorded: int | None  # voicepipe: how many were
    cpu_s: CpuReading  # by group: "workers", "valkey", "postgres"

    def summary(self, jobs: int) -> str:
        parts = [f"{self.jobs_per_s:.0f} jobs/s"]
        if self.recorded_jobs_per_s is not None:
            parts.append(f"{self.recorded_jobs_per_s:.0f} jobs/s until {self.recorded} of {jobs} "
                         "were in PostgreSQL")  # fmt: skip
        if (cpu_s := total_s(self.cpu_s)) is not None:
            parts.append(f"{cpu_s / jobs * 1e6:.0f} µs CPU per job")
        return ", ".join(parts)


@dataclass
class Results:
    arq: dict[ArqConfig, list[RoundResult]]
    saq: list[RoundResult] = field(default_factory=list)
    voicepipe: list[RoundResult] = field(default_factory=list)
    orders: list[list[str]] = field(default_factory=list)
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    idle_pct: dict[str, float | None] = field(default_factory=dict)

    def add(self, name: str, result: RoundResult, config: ArqConfig | None) -> None:
        if config is not None:
            self.arq[config].append(result)
        else:
            (self.saq if name == "saq" else self.voicepipe).append(result)

    def best_arq(self) -> ArqConfig:
        return max(self.arq, key=lambda config: _median_rate(self.arq[config]))


def figures(options: BenchOptions, results: Results, warnings: list[str]) -> dict[str, Any]:
    jobs, best = options.jobs, results.best_arq()
    arq_rate, saq_rate = _median_rate(results.arq[best]), _median_rate(results.saq)
    burst_rate = _median_rate(results.voicepipe)
    recorded_rate = statistics.median(r.recorded_jobs_per_s or 0.0 for r in results.voicepipe)
    found: dict[str, Any] = {
        "jobs": jobs,
        "workers": options.workers,
        "concurrency": options.concurrency,
        "repeat": options.repeat,
        "cpu_count": os.cpu_count(),
        "method": METHOD.format(arq_max=10 * options.concurrency, **vars(options)),
        "round_orders": results.orders,
        "arq_configs": [
            {
                **c.as_dict(),
                "jobs_per_s": round(_median_rate(runs), 1),
                "cpu_us_per_job": _cpu_us(runs, jobs),
            }
            for c, runs in results.arq.items()
        ],
        "arq_best_config": best.as_dict(),
        "arq_jobs_per_s": round(arq_rate, 1),
        "saq_jobs_per_s": round(saq_rate, 1),
        "voicepipe_jobs_per_s": round(burst_rate, 1),
        "voicepipe_recorded_jobs_per_s": round(recorded_rate, 1),
        "throughput_ratio_vs_arq": round(recorded_rate / arq_rate, 3),
        "throughput_ratio_vs_saq": round(recorded_rate / saq_rate, 3),
        "burst_ratio_vs_arq": round(burst_rate / arq_rate, 3),
        "jobs_recorded": min(r.recorded or 0 for r in results.voicepipe),
        "cpu_us_per_job": _cpu_us(results.voicepipe, jobs),
        "worker_cpu_us_per_job": _cpu_us(results.voicepipe, jobs, "workers"),
        "valkey_cpu_us_per_job": _cpu_us(results.voicepipe, jobs, "valkey"),
        "postgres_cpu_us_per_job": _cpu_us(results.voicepipe, jobs, "postgres"),
        "arq_cpu_us_per_job": _cpu_us(results.arq[best], jobs),
        "arq_valkey_cpu_us_per_job": _cpu_us(results.arq[best], jobs, "valkey"),
        "saq_cpu_us_per_job": _cpu_us(results.saq, jobs),
        "saq_valkey_cpu_us_per_job": _cpu_us(results.saq, jobs, "valkey"),
    }
    for name, prefix in (("voicepipe", ""), ("arq", "arq_"), ("saq", "saq_")):
        latencies, idle_pct = results.latency_ms[name], results.idle_pct[name]
        found[f"{prefix}latency_p50_ms"] = round(percentile(latencies, 50), 3)
        found[f"{prefix}latency_p99_ms"] = round(percentile(latencies, 99), 3)
        found[f"{prefix}idle_cpu_pct"] = None if idle_pct is None else round(idle_pct, 3)
    found["targets"] = {f"{name} {op} {bound}": _met(found, name, op, bound) for name, op, bound in TARGETS}  # fmt: skip
    found["warnings"] = warnings
    return found


def _median_rate(runs: list[RoundResult]) -> float:
    return statistics.median(r.jobs_per_s for r in runs)


def _cpu_us(runs: list[RoundResult], jobs: int, group: str | None = None) -> float | None:
    """Median µs of CPU per job: all groups, or one; None if a server's CPU is unknown."""
    per_run = [total_s(r.cpu_s) if group is None else r.cpu_s.get(group) for r in runs]
    known = [s for s in per_run if s is not None]
    if len(known) < len(per_run):
        return None
    return round(statistics.median(known) / jobs * 1e6, 1)


def _met(found: dict[str, Any], name: str, op: str, bound: float | str) -> bool | None:
    value, limit = found[name], found[bound] if isinstance(bound, str) else bound
    return None if value is None or limit is None else COMPARISONS[op](value, limit)
