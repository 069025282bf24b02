"""`voicepipe bench pages` at a tiny size: it fills, seeds, times the pages over HTTP and prints its
JSON line; a page that does not answer 200 is reported as failed, never left out."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.processes import run_voicepipe, voicepipe_env
from voicepipe.bench.pages import run_pages_bench
from voicepipe.bench.pages_measure import Page
from voicepipe.engine.heartbeats import get_workers
from voicepipe.resources import Resources
from voicepipe.settings import Settings

PAGE_FIELDS = {"path", "p50_ms", "p95_ms", "cpu_ms_per_request", "html_bytes", "target_ms", "ok",
               "error"}  # fmt: skip


async def test_bench_pages_fills_and_reports(
    settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    assert settings.redis_url and settings.database_url
    env = voicepipe_env(tmp_path, REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url)
    done = run_voicepipe(
        "bench", "pages", "--rows", "2000", "--rounds", "3", "--json", env=env, timeout_s=240
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == (0 if figures["all_ok"] else 1), done.stderr[-3000:]
    assert figures["rows"] == 2000 and figures["workers"] == 100
    assert "loopback" in figures["method"] and len(figures["load_1m_before_after_cpus"]) == 3
    pages = figures["pages"]
    assert {"overview", "jobs", "jobs_page_2", "job_detail", "recording_detail"} <= set(pages)
    for name, page in pages.items():
        assert set(page) == PAGE_FIELDS, name
        within = page["error"] is None and page["p95_ms"] <= page["target_ms"]
        assert page["ok"] == (within and page["html_bytes"] <= 200 * 1024), name
    overview = pages["overview"]
    assert overview["error"] is None and overview["html_bytes"] > 0
    assert overview["p95_ms"] >= overview["p50_ms"] > 0 and overview["cpu_ms_per_request"] >= 0
    assert pages["job_detail"]["path"] == "/jobs/{id}" and pages["job_detail"]["target_ms"] == 50
    assert figures["all_ok"] == all(p["ok"] for p in pages.values())
    assert "p95 ms" in done.stdout  # the table comes before the JSON line
    assert await resources.db.fetchval("SELECT count(*) FROM jobs") == 2000
    assert await get_workers(resources.redis) == []  # the bench's heartbeats are gone after it


async def test_a_page_that_fails_is_reported_not_skipped(resources: Resources) -> None:
    said: list[str] = []
    figures = await run_pages_bench(
        resources, 500, 2, said.append, lambda n: None,
        extra_pages=[Page("missing", ("/no-such-page",))],
    )  # fmt: skip
    missing = figures["pages"]["missing"]
    assert missing["ok"] is False and missing["p95_ms"] is None
    assert missing["error"].startswith("HTTP 404")
    assert figures["all_ok"] is False
    overview = figures["pages"]["overview"]  # the page that exists is measured all the same
    assert overview["error"] is None and overview["html_bytes"] > 0 and overview["p50_ms"] > 0
    assert "timed missing" in said
