"""The Queues, Workers and Scheduled pages over real Valkey, PostgreSQL and workers: the figures
they show for a known state, purge and restart behind CSRF and confirmation, admins only."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse

import tests.support.jobs  # noqa: F401  (registers the test tasks)
from tests.support.engine import RunningWorker, run_until_recorded
from tests.support.pages import (  # noqa: F401  (the fixtures)
    Outline,
    PagesSite,
    Row,
    Signed,
    admin_fixture,
    site_fixture,
    user_fixture,
)
from tests.support.waiting import eventually
from voicepipe import __version__
from voicepipe.engine import heartbeats
from voicepipe.engine.registry import JobHandle, get_task
from voicepipe.history import monitoring
from voicepipe.resources import Resources
from voicepipe.settings import QUEUES
from voicepipe.tasks.ping import ping
from voicepipe.web.pages.flash import FLASH_COOKIE
from voicepipe.worker.recycle import ADMIN_RESTART

UNSERVED = "batch_processing"  # no test worker serves it: what is enqueued there stays


@pytest.fixture
async def worker(resources: Resources) -> AsyncIterator[RunningWorker]:
    """A real worker on the default queue (its recorder records every queue's events)."""
    running = RunningWorker(resources, ["default"], concurrency=3)

    async def beating() -> bool:
        ids = await heartbeats.live_worker_ids(resources.redis)
        return running.process.worker_id in ids

    await eventually(beating, what="the worker's first heartbeat")
    yield running
    await running.close()


def section(html: str, element_id: str) -> str:
    match = re.search(rf'<section id="{element_id}".*?</section>', html, re.S)
    assert match, element_id
    return match.group(0)


def flash_of(response: ClientResponse) -> str:
    """The message an action's redirect leaves for the next page."""
    value = response.cookies[FLASH_COOKIE].value
    level, text = json.loads(base64.urlsafe_b64decode(value.encode()))
    return f"{level}: {text}"


async def enqueue_unserved(resources: Resources, ready: int, deferred: int) -> list[JobHandle]:
    handles = [await ping.enqueue(resources, queue=UNSERVED, payload=str(i)) for i in range(ready)]
    for i in range(deferred):
        handles.append(
            await ping.enqueue(resources, queue=UNSERVED, countdown_s=600, payload=f"later {i}")
        )
    return handles


# -- queues --------------------------------------------------------------------------------------


async def test_the_queues_page_shows_each_queues_figures_and_who_serves_it(
    admin: Signed, resources: Resources, worker: RunningWorker
) -> None:
    await enqueue_unserved(resources, ready=3, deferred=1)
    html = await admin.page("/queues")  # within MAX_HTML_BYTES
    rows = Outline.of(html).rows_by("data-queue")
    assert list(rows) == list(QUEUES)
    unserved = rows[UNSERVED].cells
    assert (unserved["Ready"], unserved["Deferred"], unserved["Running"]) == ("3", "1", "0")
    assert unserved["Workers"] == "none: nothing runs"
    assert unserved["Oldest wait"] != "—"  # three jobs have been waiting
    default = rows["default"].cells
    assert (default["Ready"], default["Workers"], default["Oldest wait"]) == ("0", "1", "—")
    # the purge button asks how many jobs go; an empty queue's button is off
    assert re.search(
        rf'action="/queues/{UNSERVED}/purge"\s+data-confirm="Purge queue {UNSERVED}\? 4 jobs wait',
        html,
    )
    assert re.search(r"<button[^>]*disabled[^>]*>Purge<span[^>]*> default<", html)
    # a live region, refreshed on job events; no inline script or style
    assert 'data-live="job"' in html
    assert re.search(r'<section id="queues-now"[^>]*data-region[^>]*data-hold', html)
    assert "style=" not in html and "<script>" not in html


async def test_purging_needs_the_token_then_a_yes_and_records_the_jobs_cancelled(
    admin: Signed, resources: Resources, worker: RunningWorker
) -> None:
    handles = await enqueue_unserved(resources, ready=3, deferred=1)
    path = f"/queues/{UNSERVED}/purge"

    refused = await admin.post_response(path, csrf=False, confirmed=False)
    assert refused.status == 403
    asked = await admin.post_response(path, confirmed=False)
    assert asked.status == 200
    question = await asked.text()
    assert f"Purge queue {UNSERVED}?" in question and "4 jobs wait in it now" in question
    assert "recorded as cancelled" in question
    assert 'name="confirmed" value="yes"' in question
    lengths = {q.queue: q for q in await monitoring.get_queue_lengths(resources)}
    assert (lengths[UNSERVED].ready, lengths[UNSERVED].deferred) == (3, 1)  # nothing purged yet

    done = await admin.post_response(path)
    assert (done.status, done.headers["Location"]) == (303, "/queues")
    assert flash_of(done) == f"success: Purged 4 jobs from {UNSERVED}."
    html = await admin.page("/queues")
    assert f"Purged 4 jobs from {UNSERVED}." in html
    cells = Outline.of(html).rows_by("data-queue")[UNSERVED].cells
    assert (cells["Ready"], cells["Deferred"]) == ("0", "0")

    async def all_cancelled() -> bool:
        infos = [await monitoring.get_job_info(resources, h.job_id) for h in handles]
        return all(i is not None and i.status.value == "cancelled" for i in infos)

    await eventually(all_cancelled, timeout_s=15, what="the purged jobs recorded as cancelled")


async def test_purging_an_unknown_queue_says_so(admin: Signed) -> None:
    response = await admin.post_response("/queues/nonsense/purge")
    assert (response.status, response.headers["Location"]) == (303, "/queues")
    assert flash_of(response) == "error: There is no queue 'nonsense' to purge."
    html = await admin.page("/queues")
    assert "There is no queue &#39;nonsense&#39; to purge." in html
    assert 'class="flash flash-error"' in html


# -- workers -------------------------------------------------------------------------------------


async def test_the_workers_page_shows_a_running_worker_and_drops_it_when_it_stops(
    admin: Signed, resources: Resources
) -> None:
    running = RunningWorker(resources, ["default", "consensus"], concurrency=3)
    worker_id = running.process.worker_id
    try:
        job = await get_task("t_long").enqueue(resources, seconds=30.0)

        async def running_it() -> Row | None:
            row = Outline.of(await admin.page("/workers")).rows_by("data-worker").get(worker_id)
            return row if row and f"/jobs/{job.job_id}" in row.links else None

        row = await eventually(running_it, timeout_s=15, what="the worker running the job")
        cells = row.cells
        host, pid, _ = worker_id.split(":")
        assert (cells["Host"], cells["Pid"], cells["Queues"]) == (host, pid, "default, consensus")
        assert (cells["Slots"], cells["Version"], cells["State"]) == ("3", __version__, "up")
        assert cells["Running"] == f"1 {job.job_id[:8]}"
        assert cells["Restarts"] == "0"
        assert re.fullmatch(r"[\d,]+ MiB", cells["Memory"])
        assert cells["Heartbeat"] == "just now" or cells["Heartbeat"].endswith(" s ago")
        html = await admin.page("/workers")
        assert 'data-live="worker heartbeat"' in html and "1 alive" in html
        assert re.search(r'<section id="workers-now"[^>]*data-region', html)
        assert '<script src="/static/workers.js" defer></script>' in html
    finally:
        await running.close()  # hands the long job back
    html = await admin.page("/workers")
    assert worker_id not in html
    assert "No worker is alive" in html and "0 alive" in html


async def test_a_hundred_workers_fit_in_the_page_budget(
    admin: Signed, resources: Resources
) -> None:
    for i in range(100):
        await heartbeats.write_heartbeat(resources.redis, f"host-{i % 7}:{1000 + i}:{i:06x}", {
            "id": f"host-{i % 7}:{1000 + i}:{i:06x}", "host": f"host-{i % 7}", "pid": 1000 + i,
            "queues": list(QUEUES), "concurrency": 4,
            "running": [f"{i:04x}{j:028x}" for j in range(8)],
            "processed": 12_345, "failed": 67, "retried": 8, "cancelled": 9,
            "memory_rss_bytes": 150 * 2**20, "version": __version__,
            "started_at": time.time() - 3600, "restarts": 2, "last_exit": "max jobs",
        })  # fmt: skip
    html = await admin.page("/workers")  # within MAX_HTML_BYTES
    rows = Outline.of(html).rows_by("data-worker")
    assert len(rows) == 100 and "100 alive" in html
    # eight running jobs: six linked, the rest counted
    assert sum(link.startswith("/jobs/") for link in rows["host-0:1000:000000"].links) == 6
    assert rows["host-0:1000:000000"].cells["Running"].endswith("+2 more")


async def test_restart_all_asks_first_then_reaches_the_running_worker(
    admin: Signed, resources: Resources, worker: RunningWorker
) -> None:
    refused = await admin.post_response("/workers/restart", csrf=False, confirmed=False)
    assert refused.status == 403
    asked = await admin.post_response("/workers/restart", confirmed=False)
    assert asked.status == 200 and "Restart every live worker?" in await asked.text()
    assert not worker.task.done() and worker.process.restart_reason is None

    done = await admin.post_response("/workers/restart")
    assert (done.status, done.headers["Location"]) == (303, "/workers")
    assert flash_of(done) == f"success: Restart asked of 1 worker: {worker.process.worker_id}"
    await eventually(lambda: _done(worker), timeout_s=15, what="the worker to stop for its restart")
    assert worker.process.restart_reason == ADMIN_RESTART


async def _done(worker: RunningWorker) -> bool:
    return worker.task.done()


# -- scheduled -----------------------------------------------------------------------------------


async def test_the_scheduled_page_lists_deferred_jobs_retries_and_cron_entries(
    admin: Signed, resources: Resources
) -> None:
    # a retry waiting for its next try, and a cron task that ran once: through a real worker
    retrying = await get_task("t_retry_self").enqueue(resources, wait_s=600)
    sweep = get_task("sweep_webhook_deliveries")
    [swept] = await run_until_recorded(
        resources, lambda: _one(sweep.enqueue(resources)), "maintenance"
    )

    async def retry_waits() -> bool:
        jobs = (await monitoring.get_scheduled_jobs(resources)).jobs
        return any(j.task_id == retrying.job_id and j.kind == "retry" for j in jobs)

    cron_worker = RunningWorker(resources, ["default", "maintenance"])
    try:
        await eventually(retry_waits, timeout_s=15, what="the retry to be deferred")
        await eventually(
            lambda: monitoring.read_cron_schedule(resources.redis), what="the cron schedule"
        )
    finally:
        await cron_worker.close()
    deferred = await ping.enqueue(resources, countdown_s=600, payload="later")

    html = await admin.page("/scheduled")  # within MAX_HTML_BYTES
    assert 'data-live="job"' in html
    waiting = section(html, "deferred")
    assert f'href="/jobs/{deferred.job_id}"' in waiting and retrying.job_id not in waiting
    assert re.search(r">in (9 min \d+ s|10 min)<", waiting)
    assert "normal" in waiting and "ping" in waiting
    retries = section(html, "retries")
    assert f'href="/jobs/{retrying.job_id}"' in retries and deferred.job_id not in retries
    assert "t_retry_self" in retries and re.search(r">in (9 min \d+ s|10 min)<", retries)
    cron_rows = Outline.of(section(html, "cron")).rows
    entries = {r.cells["Name"]: r for r in cron_rows if "Name" in r.cells}
    published = await monitoring.read_cron_schedule(resources.redis)
    assert set(entries) == {e.name for e in published} and "sweep_webhook_deliveries" in entries
    swept_row = entries["sweep_webhook_deliveries"]
    assert swept_row.cells["Schedule (UTC)"] == "second=30"
    assert re.fullmatch(r"in .+|now", swept_row.cells["Next run"])  # the next is seconds away
    # the task's newest job: the one run above, or a run the cron loop fired since
    [last] = swept_row.links
    if last == f"/jobs/{swept.job_id}":
        assert swept_row.cells["Last run"].startswith("success, ")
    else:
        assert last.startswith("/jobs/cron:sweep_webhook_deliveries:"), last
    never = [r for r in entries.values() if r.cells["Last run"] == "none recorded"]
    assert never  # the other cron tasks have not run in this test


async def _one(enqueued: Any) -> list[JobHandle]:
    return [await enqueued]


async def test_an_empty_scheduled_page_says_what_is_missing(admin: Signed) -> None:
    html = await admin.page("/scheduled")
    assert "No job is waiting for a time." in html
    assert "No job is waiting to be tried again." in html
    assert "No cron entry is published" in html


# -- who may ------------------------------------------------------------------------------------


async def test_the_ops_pages_and_actions_are_for_admins_only(
    site: PagesSite, admin: Signed, user: Signed
) -> None:
    for path in ("/queues", "/workers", "/scheduled"):
        assert (await user.get(path))[0] == 403, path
        anonymous = await site.anonymous.get(path, allow_redirects=False)
        assert anonymous.status == 303, path
        assert (await admin.get(path))[0] == 200, path
    for path in (f"/queues/{UNSERVED}/purge", "/workers/restart"):
        response = await user.post_response(path)  # with the user's own token, confirmed
        assert response.status == 403, path
