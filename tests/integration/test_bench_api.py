"""`voicepipe bench api` at a tiny size: it fills, measures over HTTP and prints its JSON line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.processes import run_voicepipe, voicepipe_env
from voicepipe.history import monitoring
from voicepipe.resources import Resources
from voicepipe.settings import Settings


async def test_bench_api_fills_and_reports(
    settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    assert settings.redis_url and settings.database_url
    env = voicepipe_env(tmp_path, REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url)
    done = run_voicepipe(
        "bench", "api", "--rows", "3000", "--rounds", "4", "--json", env=env, timeout_s=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["rows"] == 3000
    for name in ("list", "info", "statistics_24h", "statistics_7d", "list_search", "list_as_user"):
        assert figures["p95_ms"][name] >= figures["p50_ms"][name] > 0, name
    assert await resources.db.fetchval("SELECT count(*) FROM jobs") == 3000
    tasks = await resources.db.fetch("SELECT DISTINCT task_name, queue, status FROM jobs")
    assert len({r["queue"] for r in tasks}) == 5 and len({r["status"] for r in tasks}) >= 4


async def test_rollups_agree_with_the_rows_after_a_bulk_fill(
    settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    assert settings.redis_url and settings.database_url
    env = voicepipe_env(tmp_path, REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url)
    assert (
        run_voicepipe(
            "bench", "api", "--rows", "30000", "--rounds", "1", env=env, timeout_s=180
        ).returncode
        == 0
    )
    now = datetime.now(UTC)
    stats = await monitoring.get_statistics(resources, "31d", now=now)
    rows = await resources.db.fetch(
        """SELECT status, count(*) AS n FROM jobs WHERE completed_at >= $1 AND completed_at < $2
           GROUP BY status""", now - timedelta(days=31), now,
    )  # fmt: skip
    assert {
        s.value: n
        for s, n in stats.by_status.items()
        if s.value in ("success", "failure", "cancelled")
    } == {r["status"]: r["n"] for r in rows}
    assert sum(p.jobs_per_minute * stats.bucket_s / 60 for p in stats.throughput) == stats.finished
    exact = await resources.db.fetchval(
        """SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - started_at))
           FROM jobs WHERE completed_at >= $1 AND completed_at < $2 AND started_at IS NOT NULL""",
        now - timedelta(days=31), now,
    )  # fmt: skip
    assert stats.runtime.count > monitoring.EXACT_PERCENTILES_UP_TO  # read from the histograms
    assert abs(stats.runtime.p95_s - exact) <= 0.011 * exact
