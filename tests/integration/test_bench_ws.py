"""`voicepipe bench ws` at a tiny size: it connects, publishes, and reports every figure with no
message reaching a socket it must not."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.processes import run_voicepipe, voicepipe_env
from voicepipe.settings import Settings


async def test_bench_ws_reports_its_figures(settings: Settings, tmp_path: Path) -> None:
    assert settings.redis_url and settings.database_url
    env = voicepipe_env(tmp_path, REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url)
    done = run_voicepipe(
        "bench", "ws", "--clients", "50", "--seconds", "2", "--rate", "40", "--json",
        env=env, timeout_s=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["clients"] == figures["connected"] == 50
    assert figures["admin_sockets"] >= 1 and figures["web_processes"] == 1
    assert figures["isolation_errors"] == 0 and figures["closed_early"] == 0
    assert figures["expected"] > 0 and figures["delivered"] == figures["expected"]
    for name in ("p50_ms", "p99_ms", "max_ms", "rss_per_connection_kb", "web_cpu_cores", "method"):
        assert figures[name] is not None, name
    slow = figures["slow_consumer"]
    assert (slow["close_code"], slow["close_reason"]) == (4008, "slow consumer")
    assert slow["others_delivered"] == slow["others_expected"] > 0
