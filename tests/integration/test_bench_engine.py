"""`voicepipe bench engine` end to end, small: both systems measured, every job recorded."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.processes import run_voicepipe, voicepipe_env
from voicepipe.settings import Settings

FIGURES = ("jobs", "workers", "arq_jobs_per_s", "voicepipe_jobs_per_s", "throughput_ratio_vs_arq",
           "arq_latency_p50_ms", "latency_p50_ms", "latency_p99_ms", "idle_cpu_pct", "jobs_recorded")  # fmt: skip


def test_engine_bench_measures_both_systems_and_records_every_job(
    settings: Settings, tmp_path: Path
) -> None:
    env = voicepipe_env(
        tmp_path / "home", REDIS_URL=str(settings.redis_url),
        DATABASE_URL=str(settings.database_url), VOICEPIPE_LOG_LEVEL="WARNING",
    )  # fmt: skip
    done = run_voicepipe(
        "bench", "engine", "--jobs", "300", "--workers", "2", "--repeat", "1",
        "--latency-samples", "20", "--idle-s", "1", "--json", env=env, timeout_s=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(FIGURES) <= set(figures), figures
    assert (figures["jobs"], figures["workers"], figures["jobs_recorded"]) == (300, 2, 300)
    assert figures["arq_jobs_per_s"] > 0 and figures["voicepipe_jobs_per_s"] > 0
    ratio = figures["voicepipe_jobs_per_s"] / figures["arq_jobs_per_s"]
    assert abs(figures["throughput_ratio_vs_arq"] - ratio) < 0.01 * ratio
    assert 0 < figures["latency_p50_ms"] <= figures["latency_p99_ms"]
    assert figures["arq_latency_p50_ms"] > 0 and figures["idle_cpu_pct"] >= 0
    assert "round 1/1: voicepipe, 2 worker(s), 300 jobs" in done.stderr
