"""`voicepipe bench engine` end to end, small: three systems measured, every job recorded."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.processes import run_voicepipe, voicepipe_env
from voicepipe.settings import Settings

RATES = (
    "arq_jobs_per_s",
    "saq_jobs_per_s",
    "voicepipe_jobs_per_s",
    "voicepipe_recorded_jobs_per_s",
)
# (ratio, numerator, denominator)
RATIOS = (
    ("throughput_ratio_vs_arq", "voicepipe_recorded_jobs_per_s", "arq_jobs_per_s"),
    ("throughput_ratio_vs_saq", "voicepipe_recorded_jobs_per_s", "saq_jobs_per_s"),
    ("burst_ratio_vs_arq", "voicepipe_jobs_per_s", "arq_jobs_per_s"),
)
CPU = ("cpu_us_per_job", "worker_cpu_us_per_job", "valkey_cpu_us_per_job", "postgres_cpu_us_per_job",
       "arq_cpu_us_per_job", "arq_valkey_cpu_us_per_job", "saq_cpu_us_per_job",
       "saq_valkey_cpu_us_per_job")  # fmt: skip
LATENCY_PREFIXES = ("", "arq_", "saq_")
FIGURES = ("jobs", "workers", "method", "round_orders", "arq_configs", "arq_best_config",
           "jobs_recorded", "targets", "warnings", "idle_cpu_pct", "arq_idle_cpu_pct",
           "saq_idle_cpu_pct", *RATES, *(r[0] for r in RATIOS), *CPU,
           *(f"{p}latency_p{q}_ms" for p in LATENCY_PREFIXES for q in (50, 99)))  # fmt: skip


def test_engine_bench_measures_three_systems_and_records_every_job(
    settings: Settings, tmp_path: Path
) -> None:
    env = voicepipe_env(
        tmp_path / "home", REDIS_URL=str(settings.redis_url),
        DATABASE_URL=str(settings.database_url), VOICEPIPE_LOG_LEVEL="WARNING",
    )  # fmt: skip
    done = run_voicepipe(
        "bench", "engine", "--jobs", "300", "--workers", "2", "--repeat", "2",
        "--latency-samples", "20", "--idle-s", "1", "--json", env=env, timeout_s=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(FIGURES) <= set(figures), set(FIGURES) - set(figures)
    assert (figures["jobs"], figures["workers"], figures["jobs_recorded"]) == (300, 2, 300)
    assert isinstance(figures["warnings"], list)

    # The arq baseline is the best of its four configurations, each measured.
    configs = figures["arq_configs"]
    tried = {(c["max_jobs"], c["poll_delay"]) for c in configs}
    assert tried == {(10, 0.01), (10, 0.001), (100, 0.01), (100, 0.001)}
    best = max(configs, key=lambda c: c["jobs_per_s"])
    assert figures["arq_best_config"] == {"max_jobs": best["max_jobs"], "poll_delay": best["poll_delay"]}  # fmt: skip
    assert (figures["arq_jobs_per_s"], figures["arq_cpu_us_per_job"]) == (
        best["jobs_per_s"], best["cpu_us_per_job"]
    )  # fmt: skip

    assert all(figures[rate] > 0 for rate in RATES), figures
    for ratio, numerator, denominator in RATIOS:
        expected = figures[numerator] / figures[denominator]
        assert abs(figures[ratio] - expected) <= 0.01 * expected, (ratio, figures)
    # History trails the burst: every job is finished before it is recorded.
    assert figures["voicepipe_recorded_jobs_per_s"] <= figures["voicepipe_jobs_per_s"]

    assert all(figures[cpu] > 0 for cpu in CPU), figures
    parts = sum(figures[f"{p}_cpu_us_per_job"] for p in ("worker", "valkey", "postgres"))
    assert abs(figures["cpu_us_per_job"] - parts) < 1, (
        figures
    )  # medians of two are means: they add up
    assert figures["arq_cpu_us_per_job"] > figures["arq_valkey_cpu_us_per_job"]
    for prefix in LATENCY_PREFIXES:
        assert 0 < figures[f"{prefix}latency_p50_ms"] <= figures[f"{prefix}latency_p99_ms"]
        assert figures[f"{prefix}idle_cpu_pct"] >= 0
    assert set(figures["targets"].values()) <= {True, False}
    assert figures["targets"]["jobs_recorded == jobs"] is True

    # The order rotates, and the runs happened in the order reported.
    assert figures["round_orders"] == [["arq", "saq", "voicepipe"], ["voicepipe", "arq", "saq"]]
    runs = [line.split(": ")[1].split(" ")[0].rstrip(",") for line in done.stderr.splitlines()
            if line.startswith("round ")]  # fmt: skip
    assert runs == ["arq"] * 4 + ["saq", "voicepipe", "voicepipe"] + ["arq"] * 4 + ["saq"], runs
    assert "round 1/2: voicepipe, 2 worker(s), 300 jobs" in done.stderr
