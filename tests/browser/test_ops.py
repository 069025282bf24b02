"""The Queues, Workers and Scheduled pages in a real browser: counts that follow enqueues live and
a purge behind the confirm dialog; a worker appearing and going away while the page is open, and
restart all; deferred jobs listed; and at a phone's width nothing scrolls sideways."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Dialog, Page, expect

import tests.support.jobs  # noqa: F401  (registers the test tasks)
from tests.support.browser import PHONE, Browsing, Site, assert_no_sideways_scroll
from tests.support.engine import RunningWorker
from tests.support.waiting import eventually
from voicepipe.engine.registry import get_task
from voicepipe.history import monitoring
from voicepipe.tasks.ping import ping
from voicepipe.worker.recycle import ADMIN_RESTART

UNSERVED = "batch_processing"  # no test worker serves it
IN_TEN_MINUTES = re.compile(r"in (9 min \d+ s|10 min)")
ANSWERS: list[asyncio.Future[None]] = []  # the dialogs' answers, kept until done


def answer_yes(page: Page, questions: list[str]) -> None:
    """Accept the next confirm() dialog, keeping its question."""

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        ANSWERS.append(asyncio.ensure_future(dialog.accept()))

    page.once("dialog", accept)


async def open_live(browsing: Browsing, path: str) -> Page:
    """`path` opened, once its live socket has been told the page's topics (events before that
    would not reach it)."""
    page = await browsing.new_page()
    subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_frame(payload: str | bytes) -> None:
        if '"subscribed"' in str(payload) and not subscribed.done():
            subscribed.set_result(None)

    page.on("websocket", lambda socket: socket.on("framereceived", on_frame))
    response = await page.goto(path)
    assert response is not None and response.ok, path
    await asyncio.wait_for(subscribed, 10)
    return page


async def mark_loaded(page: Page) -> None:
    await page.evaluate("window.loadedAt = performance.timeOrigin")  # gone if the page reloads


async def same_page(page: Page) -> bool:
    return bool(await page.evaluate("window.loadedAt === performance.timeOrigin"))


async def test_queue_counts_follow_enqueues_live_and_purge_asks_then_empties_the_queue(
    as_admin: Browsing, site: Site
) -> None:
    page = await open_live(as_admin, "/queues")
    row = page.locator(f'tr[data-queue="{UNSERVED}"]')
    ready = row.locator('[data-count="ready"]')
    await expect(ready).to_have_text("0")
    purge = row.get_by_role("button", name=f"Purge {UNSERVED}")
    await expect(purge).to_be_disabled()  # nothing to purge
    await mark_loaded(page)
    for i in range(3):
        await ping.enqueue(site.resources, queue=UNSERVED, payload=str(i))
    await expect(ready).to_have_text("3")  # live, without a reload
    await expect(row.locator('[data-count="workers"]')).to_have_text("none: nothing runs")
    assert await same_page(page)
    await expect(purge).to_be_enabled()
    await as_admin.shot(page, "queues")

    questions: list[str] = []
    answer_yes(page, questions)
    await purge.click()
    await expect(page.get_by_role("status")).to_have_text(f"Purged 3 jobs from {UNSERVED}.")
    assert len(questions) == 1 and questions[0].startswith(f"Purge queue {UNSERVED}? 3 jobs wait")
    assert "recorded as cancelled" in questions[0]
    await expect(ready).to_have_text("0")
    await expect(purge).to_be_disabled()
    lengths = {q.queue: q.ready for q in await monitoring.get_queue_lengths(site.resources)}
    assert lengths[UNSERVED] == 0
    await as_admin.shot(page, "queues-purged")


async def test_declining_the_purge_dialog_purges_nothing(as_admin: Browsing, site: Site) -> None:
    await ping.enqueue(site.resources, queue=UNSERVED, payload="kept")
    page = await as_admin.open("/queues")
    row = page.locator(f'tr[data-queue="{UNSERVED}"]')
    await expect(row.locator('[data-count="ready"]')).to_have_text("1")
    await mark_loaded(page)
    declined: list[str] = []

    def decline(dialog: Dialog) -> None:
        declined.append(dialog.message)
        ANSWERS.append(asyncio.ensure_future(dialog.dismiss()))

    page.once("dialog", decline)
    await row.get_by_role("button", name=f"Purge {UNSERVED}").click()
    await eventually(lambda: _asked(declined), what="the confirm dialog")
    await expect(row.locator('[data-count="ready"]')).to_have_text("1")
    assert await same_page(page)  # nothing was posted
    lengths = {q.queue: q.ready for q in await monitoring.get_queue_lengths(site.resources)}
    assert lengths[UNSERVED] == 1


async def _asked(questions: list[str]) -> bool:
    return bool(questions)


async def test_a_worker_shows_up_live_and_is_shown_gone_when_it_stops(
    as_admin: Browsing, site: Site
) -> None:
    page = await open_live(as_admin, "/workers")
    await expect(page.locator("#workers-now")).to_contain_text("No worker is alive")
    await mark_loaded(page)
    worker = RunningWorker(site.resources, ["default", "consensus"], concurrency=2)
    worker_id = worker.process.worker_id
    row = page.locator(f'tr[data-worker="{worker_id}"]')
    try:
        job = await get_task("t_long").enqueue(site.resources, seconds=30.0)
        await expect(row).to_be_visible()  # without a reload
        await expect(row.locator("[data-worker-state]")).to_have_text("up")
        await expect(row.get_by_role("link", name=job.job_id[:8])).to_have_attribute(
            "href", f"/jobs/{job.job_id}"
        )
        await expect(row.locator('[data-label="Queues"]')).to_have_text("default, consensus")
        await expect(page.locator("[data-worker-count]")).to_have_text("1 alive")
        assert await same_page(page)
        await as_admin.shot(page, "workers")
    finally:
        await worker.close()
    gone = page.locator("#workers-gone")
    await expect(gone).to_be_visible()
    await expect(gone.locator("li").first).to_contain_text(worker_id)
    await expect(gone.locator("li").first).to_contain_text("down")
    await expect(row).to_have_count(0)
    await expect(page.locator("[data-worker-count]")).to_have_text("0 alive")
    assert await same_page(page)
    await as_admin.shot(page, "workers-gone")


async def test_restart_all_asks_then_reaches_the_worker(as_admin: Browsing, site: Site) -> None:
    worker = RunningWorker(site.resources, ["default"])
    try:
        worker_id = worker.process.worker_id
        page = await open_live(as_admin, "/workers")
        row = page.locator(f'tr[data-worker="{worker_id}"]')
        await expect(row).to_be_visible()
        questions: list[str] = []
        answer_yes(page, questions)
        await page.get_by_role("button", name="Restart all workers").click()
        await expect(page.get_by_role("status")).to_have_text(
            f"Restart asked of 1 worker: {worker_id}"
        )
        assert questions and questions[0].startswith("Restart every live worker?")
        await eventually(lambda: _stopped(worker), timeout_s=15, what="the worker to restart")
        assert worker.process.restart_reason == ADMIN_RESTART
        await expect(row).to_have_count(0)  # no supervisor starts it again here: it is gone
        await as_admin.shot(page, "workers-restarted")
    finally:
        await worker.close()


async def _stopped(worker: RunningWorker) -> bool:
    return worker.task.done()


async def test_the_scheduled_page_lists_deferred_jobs_as_they_come(
    as_admin: Browsing, site: Site
) -> None:
    first = await ping.enqueue(site.resources, countdown_s=600, payload="later")
    page = await open_live(as_admin, "/scheduled")
    deferred = page.locator("#deferred")
    link = deferred.get_by_role("link", name=first.job_id)
    await expect(link).to_have_attribute("href", f"/jobs/{first.job_id}")
    await expect(deferred.locator("tbody tr").first).to_contain_text(IN_TEN_MINUTES)
    await expect(page.locator("#retries")).to_contain_text("No job is waiting to be tried again.")
    await mark_loaded(page)
    second = await ping.enqueue(site.resources, countdown_s=300, payload="sooner")
    await expect(deferred.locator("tbody tr")).to_have_count(2)  # live
    await expect(deferred.locator("tbody tr").first).to_contain_text(second.job_id)  # soonest first
    assert await same_page(page)
    await as_admin.shot(page, "scheduled")


async def test_at_a_phone_width_the_ops_pages_do_not_scroll_sideways(
    as_admin: Browsing, site: Site
) -> None:
    for i in range(2):
        await ping.enqueue(site.resources, queue=UNSERVED, payload=str(i))
    await ping.enqueue(site.resources, countdown_s=600, payload="later")
    worker = RunningWorker(site.resources, ["default", "consensus", "maintenance"])
    page = await as_admin.new_page()
    await page.set_viewport_size(PHONE)
    try:
        await get_task("t_long").enqueue(site.resources, seconds=30.0)
        for path, ready in (
            ("/queues", f'tr[data-queue="{UNSERVED}"]'),
            ("/workers", f'tr[data-worker="{worker.process.worker_id}"] a'),
            ("/scheduled", "#deferred tbody tr a"),
        ):
            response = await page.goto(path)
            assert response is not None and response.status == 200
            await expect(page.locator(ready).first).to_be_visible()
            await as_admin.shot(page, path.strip("/") + "-phone")
            await assert_no_sideways_scrolling(page, path)
    finally:
        await worker.close()


async def assert_no_sideways_scrolling(page: Page, path: str) -> None:
    """Nothing scrolls the page sideways, and the pages' tables fit without scrolling either
    (on a phone each row is a card)."""
    await assert_no_sideways_scroll(page)
    frames = await page.evaluate(
        """() => [...document.querySelectorAll(".table-frame")]
            .filter(f => f.scrollWidth > f.clientWidth + 1).length"""
    )
    assert frames == 0, (path, frames)
