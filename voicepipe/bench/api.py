"""`voicepipe bench api`: fill the jobs table with N realistic rows, then time the API over HTTP.

Latency is measured by a client making one request at a time to a web server in its own process
(`voicepipe web`, started here unless a URL is given), so figures include HTTP, authentication,
the rate limiter's Redis round trip, PostgreSQL and JSON.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import ClientSession, ClientTimeout

from voicepipe.bench.api_rows import job_rows, utc_now
from voicepipe.bench.waiting import percentile
from voicepipe.db import bulk
from voicepipe.embedded.procs import free_port
from voicepipe.resources import Resources
from voicepipe.services.accounts import create_user
from voicepipe.settings import child_environment

Say = Callable[[str], None]
Tick = Callable[[int], None]


async def fill(resources: Resources, rows: int, owner_id: int | None, tick: Tick) -> float:
    """COPY `rows` jobs in chunks (tick(n) after each); returns the seconds it took."""
    started = time.perf_counter()
    assert resources.settings.database_url is not None
    async with bulk.copy_connection(resources.settings.database_url) as conn:
        for chunk in job_rows(rows, utc_now(), owner_id):
            await bulk.copy_jobs(conn, chunk)
            tick(len(chunk))
        await bulk.vacuum_analyze_jobs(conn)
    return time.perf_counter() - started


@dataclass
class Server:
    """A `voicepipe web` child on a free port, without rate limits (they would skew timings)."""

    resources: Resources
    proc: subprocess.Popen[bytes] | None = None
    url: str = ""

    async def __aenter__(self) -> str:
        port = free_port()
        env = child_environment(self.resources.settings, {
            "VOICEPIPE_LOG_LEVEL": "WARNING", "VOICEPIPE_RATE_LIMIT_READ": "0",
            "VOICEPIPE_RATE_LIMIT_WRITE": "0", "VOICEPIPE_PORT": str(port),
        })  # fmt: skip
        argv = [sys.executable, "-m", "voicepipe", "web"]
        self.proc = await asyncio.to_thread(
            subprocess.Popen, argv, env=env, stdin=subprocess.DEVNULL
        )
        self.url = f"http://127.0.0.1:{port}"
        async with ClientSession(timeout=ClientTimeout(total=2)) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    async with http.get(self.url + "/health") as response:
                        if response.status == 200:
                            return self.url
                except OSError:
                    pass
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the web server did not start")
                await asyncio.sleep(0.1)

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            await asyncio.to_thread(self.proc.wait, 30)


@dataclass
class Timings:
    samples_ms: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, ms: float) -> None:
        self.samples_ms.setdefault(name, []).append(ms)

    def summary(self, pct: float) -> dict[str, float]:
        return {name: round(percentile(v, pct), 2) for name, v in sorted(self.samples_ms.items())}


async def _timed(
    http: ClientSession, url: str, token: str, params: dict[str, str] | None = None
) -> tuple[float, Any]:
    started = time.perf_counter()
    async with http.get(
        url, params=params, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"GET {url} {params} -> {response.status}: {body}")
    return (time.perf_counter() - started) * 1000, body


def list_queries(
    rng: random.Random, cursor: str | None, job_ids: list[str]
) -> list[tuple[str, dict[str, str]]]:
    """The list requests one round makes: newest, each filter, a time range, a search for a
    common error and for one job's id, page two."""
    now = utc_now()
    start = now - timedelta(days=rng.uniform(1, 29))
    window = {
        "created_after": start.isoformat(),
        "created_before": (start + timedelta(hours=1)).isoformat(),
    }
    queries = [
        ("newest", {}), ("status", {"status": "failure"}), ("queue", {"queue": "consensus"}),
        ("task_status", {"task": "process_audio_recording", "status": "cancelled"}),
        ("time_range", window), ("time_range_status", {**window, "status": "success"}),
        ("search", {"q": rng.choice(["storage unreachable", "mid-frame", "noise floor"])}),
        ("search_id", {"q": rng.choice(job_ids)[:12]}),
        ("queue_status_time", {**window, "queue": "maintenance", "status": "success"}),
    ]  # fmt: skip
    if cursor:
        queries.append(("page_two", {"cursor": cursor}))
    return queries


async def measure(
    url: str, admin: str, user: str, job_ids: list[str], rounds: int, say: Say
) -> Timings:
    """`rounds` rounds of every list query, `rounds` info lookups, rounds/4 statistics of each window."""
    timings = Timings()
    rng = random.Random(1)
    async with ClientSession(timeout=ClientTimeout(total=60)) as http:
        _, first = await _timed(http, url + "/api/jobs", admin)  # warm-up
        for k in range(rounds):
            for name, params in list_queries(rng, first["next_cursor"], job_ids):
                ms, _ = await _timed(http, url + "/api/jobs", admin, params)
                timings.add("list", ms)
                timings.add(f"list_{name}", ms)
            ms, _ = await _timed(http, url + "/api/jobs", user, {"status": "success"})
            timings.add("list_as_user", ms)
            ms, _ = await _timed(http, f"{url}/api/jobs/info/{rng.choice(job_ids)}", admin)
            timings.add("info", ms)
            ms, _ = await _timed(http, url + "/api/jobs/failed", admin)
            timings.add("failed", ms)
            if k % 4 == 0:
                for window in ("24h", "7d"):
                    ms, _ = await _timed(
                        http, url + "/api/jobs/statistics", admin, {"window": window}
                    )
                    timings.add(f"statistics_{window}", ms)
                ms, _ = await _timed(http, url + "/api/jobs/statistics", user, {"window": "7d"})
                timings.add("statistics_7d_as_user", ms)
            if k % 20 == 0:
                say(f"measured round {k + 1} of {rounds}")
    return timings


async def run_api_bench(resources: Resources, rows: int, rounds: int, url: str | None, token: str | None,
                        say: Say, tick: Tick) -> dict[str, Any]:  # fmt: skip
    admin = await create_user(resources.db, f"bench-admin-{time.time_ns()}@localhost", admin=True)
    user = await create_user(resources.db, f"bench-user-{time.time_ns()}@localhost")
    fill_s = await fill(resources, rows, user.id, tick)
    say(f"filled {rows} rows in {fill_s:.1f} s")
    async with resources.db.acquire() as conn:
        job_ids = await bulk.job_ids_sample(conn, 1000)
    if url is None:
        async with Server(resources) as started:
            timings = await measure(started, admin.token, user.token, job_ids, rounds, say)
    else:
        timings = await measure(
            url.rstrip("/"), token or admin.token, user.token, job_ids, rounds, say
        )
    return {"rows": rows, "fill_s": round(fill_s, 1), "rounds": rounds,
            "p95_ms": timings.summary(95), "p50_ms": timings.summary(50)}  # fmt: skip
