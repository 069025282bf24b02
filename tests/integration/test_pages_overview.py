"""The Overview page over real recorded jobs: signed in with a session cookie, what it shows
matches the statistics, it obeys the CSP (no inline script or style), and it is for admins only."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import tests.support.jobs  # noqa: F401  (registers the test tasks)
from tests.support.engine import run_until_recorded
from tests.support.pages import (  # noqa: F401  (the fixtures)
    MAX_HTML_BYTES,
    Outline,
    PagesSite,
    Signed,
    admin_fixture,
    site_fixture,
    user_fixture,
)
from voicepipe.domain.jobs import JobStatus
from voicepipe.engine.registry import JobHandle, get_task
from voicepipe.history import monitoring
from voicepipe.resources import Resources, open_resources
from voicepipe.services import sessions
from voicepipe.services.notifications.alerts import evaluate
from voicepipe.settings import Settings
from voicepipe.tasks.ping import ping


async def run_jobs(resources: Resources, pings: int) -> tuple[list[str], str]:
    """`pings` ping jobs and one failing job run through a real worker, all recorded."""

    async def enqueue() -> list[JobHandle]:
        handles = [await ping.enqueue(resources, payload=str(i)) for i in range(pings)]
        return [*handles, await get_task("t_broken").enqueue(resources)]

    *handles, broken = await run_until_recorded(resources, enqueue)
    return [h.job_id for h in handles], broken.job_id


class Page(Outline):
    """What the tests read from the overview: tile counts by status, charts, the CSRF fields."""

    def __init__(self) -> None:
        super().__init__()
        self.tiles: dict[str, list[int]] = {}
        self.svgs = 0
        self.rects = 0
        self.hidden_csrf: list[str] = []
        self._tile: str | None = None
        self._in_count = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        super().handle_starttag(tag, attrs)
        a = dict(attrs)
        self.svgs += tag == "svg"
        self.rects += tag == "rect"
        if tag == "input" and a.get("name") == "csrf_token":
            self.hidden_csrf.append(str(a.get("value")))
        if tag == "li" and a.get("data-status"):
            self._tile = a["data-status"]
        self._in_count = self._tile is not None and "tile-count" in (a.get("class") or "")

    def handle_data(self, data: str) -> None:
        super().handle_data(data)
        if self._in_count and self._tile:
            self.tiles.setdefault(self._tile, []).append(int(data.replace(",", "")))
            self._in_count = False
            self._tile = None


async def test_the_overview_shows_the_recorded_jobs_and_obeys_the_csp(
    admin: Signed, settings: Settings, resources: Resources
) -> None:
    ping_ids, broken_id = await run_jobs(resources, pings=3)
    # make the failure-rate alert fire: one failure of one job is enough with these thresholds
    strict = settings.model_copy(update={"alert_failure_min_jobs": 1})
    async with open_resources(strict) as evaluator:
        await evaluate(evaluator, datetime.now(UTC))

    response = await admin.get_response("/?window=1h")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.read()
    assert len(body) < MAX_HTML_BYTES
    html = body.decode()
    page = Page.of(html)

    stats = await monitoring.get_statistics(resources, "1h")
    assert stats.by_status[JobStatus.SUCCESS] == 3 and stats.by_status[JobStatus.FAILURE] == 1
    for status in JobStatus:
        assert page.tiles[status.value] == [stats.by_status.get(status, 0)], status
    # the failure is listed with a link to its job, the pings are not
    assert f"/jobs/{broken_id}" in page.links
    assert not any(job_id in html for job_id in ping_ids)
    assert "corrupt input: this never gets better" in html
    # two charts drawn as SVG, one bar per period and one per window, the failure rate written out
    assert page.svgs == 2 and page.rects > 3
    assert "25 %" in html  # 1 failure of 4 finished jobs, in every window
    assert "Jobs finished per 3 min, last 1 h (UTC)" in html
    # the window links work without JS, the selected one marked
    assert {"/?window=1h", "/?window=24h", "/?window=7d"} <= set(page.links)
    assert re.search(r'href="/\?window=1h" aria-current="true"', html)
    # the alert that fired is shown
    assert "failure rate: t_broken" in html
    # sign-out posts this session's CSRF token; the live banner waits hidden
    assert page.hidden_csrf and all(len(token) == 64 for token in page.hidden_csrf)
    assert re.search(r'<div id="live-banner"[^>]*\bhidden\b', html)
    assert "admin@example.org" in html
    # the CSP allows no inline script or style: none is there
    assert page.inline == 0
    assert "<script>" not in html and "style=" not in html


async def test_an_empty_system_renders_and_an_unknown_window_falls_back(admin: Signed) -> None:
    html = await admin.page("/?window=nonsense")
    page = Page.of(html)
    assert all(counts == [0] for counts in page.tiles.values()) and len(page.tiles) == 7
    assert re.search(r'href="/\?window=24h" aria-current="true"', html)
    assert "No job has failed." in html and "No alert is firing." in html
    assert "No job finished in the last 24 h" in html  # across the empty throughput chart
    assert "No worker is alive" in html


async def test_the_overview_is_for_signed_in_admins_only(
    site: PagesSite, admin: Signed, user: Signed
) -> None:
    anonymous = await site.anonymous.get("/?window=7d", allow_redirects=False)
    assert anonymous.status == 303
    location = urlsplit(anonymous.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query)["next"] == ["/?window=7d"]

    stale = await site.anonymous.get(
        "/", cookies={sessions.SESSION_COOKIE: "not-a-session"}, allow_redirects=False
    )
    assert stale.status == 303

    users = await user.get_response("/")  # a user starts at their jobs
    assert users.status == 303 and users.headers["Location"] == "/jobs"

    admins = await admin.get_response("/")  # the same request with an admin's session
    assert admins.status == 200  # gets the page
