"""The Overview page in a real browser, over jobs a real worker ran: the counts, both charts, the
failure listed, the window links, a phone's width without sideways scrolling, and the keyboard."""

from __future__ import annotations

from functools import partial

import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.browser import PHONE, Browsing, Focus, focused, sideways_overflow
from tests.support.engine import run_until_recorded
from tests.support.waiting import eventually
from voicepipe.engine.registry import JobHandle
from voicepipe.resources import Resources
from voicepipe.tasks.ping import ping

PINGS = 3
WINDOWS = (("1 h", "1h"), ("7 d", "7d"), ("24 h", "24h"))  # as written, ?window=


async def drawn_height(element: Locator) -> float:
    """Its height on screen, 0 while a live refresh swaps it for its fresh copy."""
    box = await element.bounding_box()
    return box["height"] if box is not None else 0.0


@pytest.fixture
async def failed_job(resources: Resources) -> str:
    """PINGS pings and one failing ping run by a real worker, all recorded; the failure's id."""

    async def enqueue() -> list[JobHandle]:
        handles = [await ping.enqueue(resources, payload=str(i)) for i in range(PINGS)]
        return [*handles, await ping.enqueue(resources, no_such_argument=1)]  # fails: bad argument

    *_, failed = await run_until_recorded(resources, enqueue)
    return failed.job_id


async def test_the_overview_shows_the_jobs_and_its_windows_work(
    as_admin: Browsing, failed_job: str
) -> None:
    page = await as_admin.open("/")
    await expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    await expect(page.locator('#counts li[data-status="success"] .tile-count')).to_have_text(
        str(PINGS)
    )
    await expect(page.locator('#counts li[data-status="failure"] .tile-count')).to_have_text("1")
    await expect(page.locator('#counts li[data-status="pending"] .tile-count')).to_have_text("0")
    charts = page.locator("#charts svg.chart-svg")
    await expect(charts).to_have_count(2)
    for index in range(2):
        chart = charts.nth(index)
        await expect(chart).to_be_visible()
        assert await eventually(partial(drawn_height, chart), what="the chart drawn") > 50
    await expect(page.get_by_role("img", name="Failure rate", exact=False)).to_be_visible()
    await expect(page.locator("#charts .bar-failure .chart-value")).to_have_text(["25 %"] * 3)
    failures = page.locator("#failures tbody tr")
    await expect(failures).to_have_count(1)
    await expect(failures).to_contain_text("ping")
    await expect(failures.get_by_role("link", name=failed_job)).to_be_visible()
    await as_admin.shot(page, "overview")

    windows = page.get_by_role("navigation", name="Time window")
    for text, key in WINDOWS:
        link = windows.get_by_role("link", name=text, exact=True)
        await link.click()
        await expect(page).to_have_url(f"{as_admin.site.url}/?window={key}")
        await expect(link).to_have_attribute("aria-current", "true")
        await expect(windows.locator('[aria-current="true"]')).to_have_count(1)
        await expect(
            page.get_by_role("heading", name=f"Finished in the last {text}")
        ).to_be_visible()
        await expect(page.locator("#chart-throughput-title")).to_contain_text(f"last {text}")
        await expect(page.locator('#counts li[data-status="success"] .tile-count')).to_have_text(
            str(PINGS)
        )
        await as_admin.shot(page, f"overview-{key}")


async def test_on_a_phone_the_overview_does_not_scroll_sideways(
    as_admin: Browsing, failed_job: str
) -> None:
    page = await as_admin.new_page()
    await page.set_viewport_size(PHONE)
    response = await page.goto("/")
    assert response is not None and response.status == 200
    await expect(page.locator("#failures tbody tr")).to_have_count(1)  # the long error is there
    assert await page.evaluate("window.innerWidth") == PHONE["width"]
    overflow = await sideways_overflow(page)
    await as_admin.shot(page, "overview-phone")
    assert overflow.scroll_width <= PHONE["width"] + 1, overflow
    assert overflow.past_the_edge == [], overflow.past_the_edge[:10]


async def tab_until(page: Page, last: str, presses: int = 20) -> list[Focus]:
    """Press Tab from where the focus is until `last` has it; every element reached, in order."""
    reached = []
    for _ in range(presses):
        await page.keyboard.press("Tab")
        reached.append(await focused(page))
        if reached[-1].text == last:
            return reached
    raise AssertionError(f"{last!r} not reached in {presses} presses: {[f.text for f in reached]}")


async def test_the_keyboard_reaches_the_skip_link_the_sections_and_the_windows(
    as_admin: Browsing,
) -> None:
    page = await as_admin.open("/")
    reached = await tab_until(page, "7 d")
    await as_admin.shot(page, "focus-7d")
    assert [f for f in reached if not f.visible] == []
    assert reached[0].text == "Skip to content"
    wanted = ["Skip to content", "Overview", "Sign out", "1 h", "24 h", "7 d"]
    assert [f.text for f in reached if f.text in wanted] == wanted, reached
    assert [f for f in reached[:3] if f.clipped_by] == []

    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    await expect(page.get_by_role("link", name="1 h", exact=True)).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{as_admin.site.url}/?window=1h")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await as_admin.shot(page, "focus-skip-link")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{as_admin.site.url}/?window=1h#main")


async def test_the_window_links_focus_ring_is_not_clipped(as_admin: Browsing) -> None:
    page = await as_admin.open("/")
    reached = await tab_until(page, "7 d")
    windows = [f for f in reached if f.text in ("1 h", "24 h", "7 d")]
    assert len(windows) == 3 and all(f.visible for f in windows)
    assert [f.clipped_by for f in windows] == [None, None, None]
