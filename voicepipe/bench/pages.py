"""`voicepipe bench pages`: server time of every admin page on N job rows and 100 live workers.

The jobs table is filled as `voicepipe bench api` fills it (COPY of realistic rows); 100 worker
heartbeats, an admin's inbox and a few processed recordings are added through the functions the
system writes them with; then a `voicepipe web` child (no rate limits) is asked for each page.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin

from voicepipe.bench.api import Server, Tick, fill
from voicepipe.bench.pages_measure import (
    DETAIL_TARGET_MS,
    MAX_HTML_BYTES,
    Figures,
    Page,
    PageClient,
    PageFailed,
    Say,
    next_link,
    time_page,
    warm_up,
)
from voicepipe.bench.pages_seed import add_recordings, beating_workers, fill_inbox
from voicepipe.db import bulk
from voicepipe.resources import Resources
from voicepipe.services import sessions
from voicepipe.services.accounts import create_user

SEARCH_WORD = "unreachable"  # from one of the bench rows' error texts (api_rows.ERRORS)
DETAIL_IDS = 200  # job ids the job detail page is asked for, at random
METHOD = (
    "Client-observed wall time of one GET at a time (body read in full) over loopback HTTP to a "
    "`voicepipe web` child process without rate limits, signed in with an admin's session cookie; "
    "one warm-up request per page, then {rounds} requests of each page in a row (sampled ids for "
    "job detail); p50/p95 by nearest rank. CPU: utime+stime of the web process (/proc/<pid>/stat) "
    "over a page's requests divided by their number (PostgreSQL and Valkey time not included). "
    "HTML bytes: the largest body. Data: {rows} job rows COPYed (7 tasks, 5 queues, 30 days), "
    "{workers} worker heartbeats rewritten every second as workers write them, {notifications} "
    "notifications in the admin's inbox, {recordings} recordings (up to {chunks} chunks). "
    "ok: HTTP 200, p95 <= target, HTML <= {max_kb} KB."
)


def pages_to_time(job_ids: Sequence[str], recording_id: int) -> list[Page]:
    """Every admin page, with the filters and windows people use most (page two comes later:
    its cursor is read from page one)."""
    return [
        Page("overview", ("/",)),
        Page("overview_1h", ("/?window=1h",)),
        Page("overview_7d", ("/?window=7d",)),
        Page("jobs", ("/jobs",)),
        Page("jobs_failed", ("/jobs?status=failure",)),
        Page("jobs_search", (f"/jobs?q={SEARCH_WORD}",)),
        Page("jobs_queue_task", ("/jobs?queue=consensus&task=calculate_consensus_for_chunks",)),
        Page("job_detail", tuple(f"/jobs/{i}" for i in job_ids[:DETAIL_IDS]), DETAIL_TARGET_MS),
        Page("queues", ("/queues",)),
        Page("workers", ("/workers",)),
        Page("scheduled", ("/scheduled",)),
        Page("failed", ("/failed",)),
        Page("recordings", ("/recordings",)),
        Page("recording_detail", (f"/recordings/{recording_id}",)),
        Page("notifications", ("/notifications",)),
    ]


async def older_page(client: PageClient) -> Page | str:
    """/jobs page two, by the "Older" link of page one; else why there is none."""
    try:
        _, body = await client.get("/jobs")
    except PageFailed as exc:
        return f"page one failed: {exc}"
    href = next_link(body.decode(errors="replace"))
    if href is None:
        return 'page one has no "Older" (rel="next") link'
    return Page("jobs_page_2", (urljoin("/jobs", href),))


async def measure(url: str, pid: int, session_token: str, pages: list[Page], rounds: int,
                  say: Say) -> list[Figures]:  # fmt: skip
    """Each page timed in turn after one warm-up round; page two of /jobs after the filters."""
    client = PageClient(url, session_token)
    try:
        await warm_up(client, pages)
        second = await older_page(client)
        measured = []
        for page in pages:
            measured.append(await time_page(client, pid, page, rounds))
            if page.name == "jobs_queue_task":
                if isinstance(second, Page):
                    await warm_up(client, [second])
                    measured.append(await time_page(client, pid, second, rounds))
                else:
                    lost = Figures(Page("jobs_page_2", ("/jobs?cursor=…",)), error=second)
                    measured.append(lost)
            say(f"timed {page.name}")
    finally:
        await client.close()
    return measured


async def run_pages_bench(resources: Resources, rows: int, rounds: int, say: Say, tick: Tick,
                          extra_pages: Sequence[Page] = ()) -> dict[str, Any]:  # fmt: skip
    """Fill, seed, time every page (and `extra_pages`); the figures as `--json` prints them."""
    stamp = time.time_ns()
    admin = await create_user(resources.db, f"bench-admin-{stamp}@localhost", admin=True)
    user = await create_user(resources.db, f"bench-user-{stamp}@localhost")
    fill_s = await fill(resources, rows, user.id, tick)
    say(f"filled {rows} rows in {fill_s:.1f} s")
    async with resources.db.acquire() as conn:
        job_ids = await bulk.job_ids_sample(conn, 1000)
    notifications = await fill_inbox(resources, admin.id, job_ids)
    recordings = await add_recordings(resources, user.id)
    recording_id, chunks = max(recordings, key=lambda r: r[1])
    token = await sessions.create(resources, admin.id)
    pages = [*pages_to_time(job_ids, recording_id), *extra_pages]
    server = Server(resources)
    load_before = os.getloadavg()[0]
    async with beating_workers(resources, job_ids[:300]) as workers, server as url:
        assert server.proc is not None
        measured = await measure(url, server.proc.pid, token, pages, rounds, say)
    # wall times on a busy machine are mostly waiting for a core: say how busy it was
    load = [round(load_before, 2), round(os.getloadavg()[0], 2), os.cpu_count()]
    figures = {f.page.name: f.summary() for f in measured}
    method = METHOD.format(
        rounds=rounds, rows=rows, workers=workers, notifications=notifications,
        recordings=len(recordings), chunks=chunks, max_kb=MAX_HTML_BYTES // 1024,
    )  # fmt: skip
    return {"method": method, "rows": rows, "workers": workers, "rounds": rounds,
            "fill_s": round(fill_s, 1), "load_1m_before_after_cpus": load, "pages": figures,
            "all_ok": all(f["ok"] for f in figures.values())}  # fmt: skip
