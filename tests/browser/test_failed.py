"""The Failed page in a real browser, over jobs a real worker failed: retry all matching (asked in
the browser's dialog) empties the list, retry selected retries only the ticked row, a job that
fails while the page is open appears in it, and at a phone's width nothing scrolls sideways."""

from __future__ import annotations

from playwright.async_api import expect

import tests.support.jobs  # noqa: F401  (registers the test tasks)
from tests.support.browser import PHONE, Browsing, answer_next_dialog, assert_no_sideways_scroll
from tests.support.engine import RunningWorker, fail_jobs
from voicepipe import keys
from voicepipe.engine.registry import get_task
from voicepipe.resources import Resources


async def test_retry_all_matching_empties_the_failed_list(
    as_admin: Browsing, resources: Resources
) -> None:
    failed = await fail_jobs(resources, 3)
    page = await as_admin.open("/failed")
    await expect(page.get_by_role("heading", name="Failed jobs", level=1)).to_be_visible()
    rows = page.locator("#failed-list tbody tr[data-job-id]")
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_contain_text("corrupt input: this never gets better")
    await expect(page.locator("#failed-summary")).to_contain_text(
        "3 failed jobs in the dead letter"
    )
    await as_admin.shot(page, "failed")

    asked = answer_next_dialog(page)
    await page.get_by_role("button", name="Retry all matching").click()
    await expect(page.locator(".flash-success")).to_have_text("Retried 3 jobs.")
    assert asked == ["Retry all 3 failed jobs? Each runs again as a new job."]
    await expect(rows).to_have_count(0)
    await expect(page.locator("#failed-list")).to_contain_text("The dead letter is empty")
    for job_id in failed:
        assert await resources.redis.exists(keys.retried_as(job_id))
    await as_admin.shot(page, "failed-retried")


async def test_retry_selected_retries_the_ticked_row_only(
    as_admin: Browsing, resources: Resources
) -> None:
    first, second = await fail_jobs(resources, 2)
    page = await as_admin.open("/failed")
    await expect(page.locator("#failed-list tbody tr[data-job-id]")).to_have_count(2)
    await page.get_by_label(f"Select job {first}").check()
    await as_admin.shot(page, "failed-ticked")
    asked = answer_next_dialog(page)
    await page.get_by_role("button", name="Retry selected").click()
    await expect(page.locator(".flash-success")).to_have_text("Retried 1 job.")
    assert asked == ["Retry the selected jobs? Each runs again as a new job."]
    remaining = page.locator("#failed-list tbody tr[data-job-id]")
    await expect(remaining).to_have_count(1)
    await expect(remaining).to_have_attribute("data-job-id", second)
    assert await resources.redis.exists(keys.retried_as(first))
    assert not await resources.redis.exists(keys.retried_as(second))

    # "select all" ticks every row; a refused dialog sends nothing
    await page.get_by_label("Select every job on this page").check()
    await expect(page.get_by_label(f"Select job {second}")).to_be_checked()
    page.once("dialog", lambda dialog: dialog.dismiss())
    await page.get_by_role("button", name=f"Retry job {second}").click()
    await expect(remaining).to_have_count(1)
    assert not await resources.redis.exists(keys.retried_as(second))


async def test_a_job_failing_while_the_page_is_open_appears_in_it(
    as_admin: Browsing, resources: Resources
) -> None:
    page = await as_admin.open("/failed")
    await expect(page.locator("#failed-list")).to_contain_text("The dead letter is empty")
    worker = RunningWorker(resources, ["default"])
    try:
        handle = await get_task("t_broken").enqueue(resources)
        row = page.locator(f'#failed-list tr[data-job-id="{handle.job_id}"]')
        await expect(row).to_be_visible()  # no reload: the live feed refreshed the list
    finally:
        await worker.close()
    await expect(page.locator("#failed-summary")).to_contain_text("1 failed job in the dead letter")


async def test_the_list_holds_still_while_a_row_is_ticked(
    as_admin: Browsing, resources: Resources
) -> None:
    (first,) = await fail_jobs(resources, 1)
    page = await as_admin.open("/failed")
    rows = page.locator("#failed-list tbody tr[data-job-id]")
    await expect(rows).to_have_count(1)
    ticked = page.get_by_label(f"Select job {first}")
    await ticked.check()
    await page.mouse.move(0, 0)  # the pointer away from the list: only the tick holds it
    await fail_jobs(resources, 1)
    # the summary above the list learns of the new failure; the list under the tick stays
    await expect(page.locator("#failed-summary")).to_contain_text("2 failed jobs")
    await expect(rows).to_have_count(1)
    await expect(ticked).to_be_checked()
    await ticked.uncheck()
    await page.mouse.move(0, 0)
    await expect(rows).to_have_count(2)  # released: the list catches up


async def test_on_a_phone_the_failed_page_does_not_scroll_sideways(
    as_admin: Browsing, resources: Resources
) -> None:
    await fail_jobs(resources, 2)
    page = await as_admin.new_page()
    await page.set_viewport_size(PHONE)
    response = await page.goto("/failed")
    assert response is not None and response.status == 200
    await expect(page.locator("#failed-list tbody tr[data-job-id]")).to_have_count(2)
    await as_admin.shot(page, "failed-phone")
    await assert_no_sideways_scroll(page)
