"""The Jobs and Job pages in a real browser, over jobs a real worker runs: a job enqueued through
the JSON API appears on the open list and its progress bar moves without reload; cancel and
retry from the job page, each asked first in the browser's dialog; screenshots, and a phone's
width without sideways scrolling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

import tests.support.jobs  # noqa: F401  (registers the test tasks)
from tests.support.browser import (
    PHONE,
    Browsing,
    Site,
    answer_next_dialog,
    assert_no_sideways_scroll,
)
from tests.support.engine import RunningWorker
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.domain.jobs import JobStatus
from voicepipe.engine.job_context import JobContext
from voicepipe.engine.registry import REGISTRY, Task, get_task, task
from voicepipe.history import monitoring
from voicepipe.resources import Resources
from voicepipe.services.accounts import create_user

STEPS = 3


def _go_key(job_id: str) -> str:
    return f"test:{job_id}:go"


async def _steps(ctx: JobContext, steps: int) -> int:
    """Reports progress step by step, each next step only once the test says go."""
    for step in range(1, steps + 1):
        await ctx.progress(step, steps, stage="stepping")
        if step < steps:
            await ctx.resources.redis.blpop([_go_key(ctx.job_id)], timeout=30)
    return steps


STEPPED: Task = REGISTRY.get("t_page_steps") or task(name="t_page_steps", max_retries=0)(_steps)


@pytest.fixture
async def worker(site: Site) -> AsyncIterator[RunningWorker]:
    running = RunningWorker(site.resources, ["default"])
    yield running
    await running.close()


async def recorded(resources: Resources, job_id: str, status: JobStatus) -> None:
    async def reached() -> bool:
        job = await monitoring.get_job_info(resources, job_id)
        return job is not None and job.status is status

    await eventually(reached, timeout_s=15, what=f"job {job_id} recorded {status.value}")


async def open_live(browsing: Browsing, path: str) -> Page:
    """`path` loaded, its live socket open and subscribed (events from now on reach it)."""
    page = await browsing.new_page()
    async with page.expect_websocket() as opened:
        response = await page.goto(path)
    assert response is not None and response.ok
    socket = await opened.value
    await socket.wait_for_event("framesent", lambda frame: "subscribe" in str(frame))
    await page.evaluate("window.loadedAt = performance.timeOrigin")  # gone if the page reloads
    return page


async def not_reloaded(page: Page) -> bool:
    return bool(await page.evaluate("window.loadedAt === performance.timeOrigin"))


async def enqueue_through_api(site: Site, body: dict[str, Any]) -> str:
    robot = await create_user(site.resources.db, "robot@example.org", admin=True)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{site.url}/api/jobs", json=body, headers={"Authorization": f"Bearer {robot.token}"}
        ) as response,
    ):
        assert response.status == 202, await response.text()
        return str((await response.json())["task_id"])


async def test_a_job_enqueued_through_the_api_appears_live_and_its_progress_moves(
    as_admin: Browsing, site: Site, worker: RunningWorker
) -> None:
    page = await open_live(as_admin, "/jobs")
    await expect(page.locator("#jobs-list")).to_contain_text("No job has been enqueued yet.")

    job_id = await enqueue_through_api(site, {"task": "t_page_steps", "kwargs": {"steps": STEPS}})
    row = page.locator(f'#jobs-list tr[data-job-id="{job_id}"]')
    await expect(row).to_be_visible()
    await expect(row.locator(".badge")).to_have_text("started")
    bar = row.locator(f'[data-job-progress="{job_id}"]')
    await expect(bar.locator(".progress-text")).to_have_text(f"1 / {STEPS}")
    await as_admin.shot(page, "jobs-running")

    await site.resources.redis.rpush(_go_key(job_id), "go")
    await expect(bar.locator(".progress-text")).to_have_text(f"2 / {STEPS}")
    await expect(bar.locator("progress")).to_have_js_property("value", 2)
    await site.resources.redis.rpush(_go_key(job_id), "go")
    await expect(row.locator(".badge")).to_have_text("success")
    await expect(row.locator(".progress")).to_have_count(0)  # the row redrawn: no longer running
    await expect(row.locator('td[data-label="Run"]')).not_to_contain_text("so far")
    assert await not_reloaded(page)
    await as_admin.shot(page, "jobs")

    await row.get_by_role("link", name=job_id).click()
    await expect(page).to_have_url(f"{site.url}/jobs/{job_id}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("t_page_steps")
    await expect(page.locator("#job-timeline tbody tr")).to_have_count(
        3
    )  # queued, started, success
    await expect(page.locator("#job-facts")).to_contain_text("user #")  # the robot's job
    await expect(page.locator("#job-actions form")).to_have_count(0)  # a success allows none


async def test_the_job_page_follows_its_job_live(
    as_admin: Browsing, site: Site, worker: RunningWorker
) -> None:
    handle = await STEPPED.enqueue(site.resources, steps=STEPS)
    await recorded(site.resources, handle.job_id, JobStatus.STARTED)
    page = await open_live(as_admin, f"/jobs/{handle.job_id}")
    bar = page.locator(f'.job-progress [data-job-progress="{handle.job_id}"]')
    await expect(bar.locator(".progress-text")).to_have_text(f"1 / {STEPS}")
    await expect(page.locator(".job-progress [data-job-progress-info]")).to_have_text(
        "stage: stepping"
    )
    await site.resources.redis.rpush(_go_key(handle.job_id), "go")
    await expect(bar.locator(".progress-text")).to_have_text(f"2 / {STEPS}")
    await site.resources.redis.rpush(_go_key(handle.job_id), "go")
    await expect(page.locator("#job-facts .badge")).to_have_text("success")
    await expect(page.locator("#job-timeline tbody tr")).to_have_count(3)  # ..., success
    assert await not_reloaded(page)


async def test_cancel_from_the_job_page_asks_first_and_cancels(
    as_admin: Browsing, site: Site, worker: RunningWorker
) -> None:
    handle = await get_task("t_long").enqueue(site.resources, seconds=60)
    await recorded(site.resources, handle.job_id, JobStatus.STARTED)
    page = await open_live(as_admin, f"/jobs/{handle.job_id}")
    badge = page.locator(".page-head .badge")
    await expect(badge).to_have_text("started")
    cancel = page.locator("#job-actions").get_by_role("button", name="Cancel")
    await expect(
        page.locator("#job-actions").get_by_role("button", name="Terminate")
    ).to_be_visible()
    await expect(page.locator("#job-actions").get_by_role("button", name="Retry")).to_have_count(0)
    await as_admin.shot(page, "job")

    asked = answer_next_dialog(page, accept=False)
    await cancel.click()

    async def answered() -> bool:
        return bool(asked)

    await eventually(answered, what="the confirm dialog")
    assert asked[0].startswith(f"Cancel job {handle.job_id}?")
    assert await not_reloaded(page)  # no: nothing was sent
    job = await monitoring.get_job_info(site.resources, handle.job_id)
    assert job is not None and job.status is JobStatus.STARTED
    assert await site.resources.redis.hlen(keys.STOP_REQUESTS) == 0

    accepted = answer_next_dialog(page)
    async with page.expect_navigation():
        await cancel.click()
    assert accepted[0].startswith(f"Cancel job {handle.job_id}?")
    await expect(page.locator(".flash-success")).to_have_text(f"Job {handle.job_id} cancelled.")
    await expect(badge).to_have_text("cancelled")
    await expect(page.locator("#job-facts .badge")).to_have_text("cancelled")
    await expect(page.locator("#job-actions").get_by_role("button", name="Retry")).to_be_visible()
    await recorded(site.resources, handle.job_id, JobStatus.CANCELLED)
    await as_admin.shot(page, "job-cancelled")


async def test_retry_a_failed_job_from_its_page(
    as_admin: Browsing, site: Site, worker: RunningWorker
) -> None:
    handle = await get_task("t_broken").enqueue(site.resources)
    await recorded(site.resources, handle.job_id, JobStatus.FAILURE)
    page = await as_admin.open(f"/jobs/{handle.job_id}")
    await expect(page.locator(".job-error")).to_contain_text(
        "corrupt input: this never gets better"
    )
    await expect(page.locator(".job-error")).to_contain_text("Traceback")
    await as_admin.shot(page, "job-failed")

    asked = answer_next_dialog(page)
    async with page.expect_navigation():
        await page.locator("#job-actions").get_by_role("button", name="Retry").click()
    assert asked[0].startswith(f"Retry job {handle.job_id}?")
    marker = await site.resources.redis.get(keys.retried_as(handle.job_id))
    assert marker is not None
    new_id = marker.decode()
    await expect(page.locator(".flash-success")).to_have_text(
        f"Job {handle.job_id} retried as job {new_id}."
    )
    await expect(page.locator("#job-actions").get_by_role("button", name="Retry")).to_have_count(0)
    await recorded(site.resources, new_id, JobStatus.FAILURE)  # the rerun fails the same way
    await page.get_by_role("link", name=f"Open the rerun, job {new_id}").click()
    await expect(page).to_have_url(f"{site.url}/jobs/{new_id}")
    await expect(page.locator("#job-facts")).to_contain_text("Retry of")
    await expect(page.locator("#job-facts").get_by_role("link", name=handle.job_id)).to_be_visible()
    await as_admin.shot(page, "job-rerun")


async def test_on_a_phone_the_job_pages_do_not_scroll_sideways(
    as_admin: Browsing, site: Site, worker: RunningWorker
) -> None:
    handles = [await get_task("t_broken").enqueue(site.resources) for _ in range(2)]
    handles.append(await get_task("t_echo").enqueue(site.resources, value="x" * 300))
    for handle in handles:
        await recorded(
            site.resources,
            handle.job_id,
            JobStatus.FAILURE if handle.task_name == "t_broken" else JobStatus.SUCCESS,
        )
    page = await as_admin.new_page()
    await page.set_viewport_size(PHONE)
    for path, name in (("/jobs", "jobs-phone"), (f"/jobs/{handles[0].job_id}", "job-phone")):
        response = await page.goto(path)
        assert response is not None and response.status == 200
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await as_admin.shot(page, name)
        await assert_no_sideways_scroll(page)
    await expect(page.locator(".job-error pre.code").first).to_be_visible()


async def test_without_javascript_the_filters_work_and_cancel_asks_on_a_page(
    browsing: Browsing, browser: Browser, site: Site, worker: RunningWorker
) -> None:
    context = await browser.new_context(base_url=site.url, java_script_enabled=False)
    try:
        browsing.watch.attach(context)
        await context.add_cookies([await site.session_cookie(site.admin)])
        failed = await get_task("t_broken").enqueue(site.resources)
        waiting = await get_task("t_echo").enqueue(site.resources, countdown_s=3600)
        await recorded(site.resources, failed.job_id, JobStatus.FAILURE)
        await recorded(site.resources, waiting.job_id, JobStatus.SCHEDULED)
        page = await context.new_page()
        await page.goto("/jobs")
        await page.get_by_label("failure").check()
        await page.get_by_role("button", name="Filter").click()
        await expect(page).to_have_url(
            f"{site.url}/jobs?status=failure&queue=&task=&created_after=&created_before=&q="
        )
        rows = page.locator("#jobs-list tbody tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-job-id", failed.job_id)

        await page.goto(f"/jobs/{waiting.job_id}")
        await page.locator("#job-actions").get_by_role("button", name="Cancel").click()
        await expect(
            page.get_by_role("heading", name=f"Cancel job {waiting.job_id}?")
        ).to_be_visible()
        await browsing.shot(page, "job-confirm-no-js")
        await page.get_by_role("button", name="Cancel job").click()
        await expect(page).to_have_url(f"{site.url}/jobs/{waiting.job_id}")
        await expect(page.locator(".flash-success")).to_have_text(
            f"Job {waiting.job_id} cancelled."
        )
        await recorded(site.resources, waiting.job_id, JobStatus.CANCELLED)
    finally:
        await context.close()
