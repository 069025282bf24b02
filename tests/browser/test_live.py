"""The pages live, in a real browser: the overview's counters follow jobs a real worker runs,
without reload; while the live feed is refused the banner says so and the page polls; when the
web server goes away and comes back the page reconnects by itself and shows what happened
meanwhile."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler
from playwright.async_api import expect

from tests.support.browser import Browsing, Site
from tests.support.engine import run_until_recorded
from voicepipe.embedded.procs import free_port
from voicepipe.engine.registry import JobHandle
from voicepipe.settings import Settings
from voicepipe.tasks.ping import ping
from voicepipe.web.app import init_app
from voicepipe.web.ws.hub import HUB

SUCCESS_TILE = '#counts li[data-status="success"] .tile-count'
# a reconnect attempt comes at most RETRY_MAX_MS (10 s, static/live.js) after the server is back
RECONNECT_TIMEOUT_MS = 25_000
POLL_TIMEOUT_MS = 15_000  # the page polls every 10 s while its socket is down


def enqueue_ping(site: Site, payload: str) -> Callable[[], Awaitable[list[JobHandle]]]:
    async def enqueue() -> list[JobHandle]:
        return [await ping.enqueue(site.resources, payload=payload)]

    return enqueue


@asynccontextmanager
async def web_server(
    settings: Settings, port: int, gate: FeedGate | None = None
) -> AsyncIterator[web.Application]:
    """The app on 127.0.0.1:`port` until the block ends (then it shuts down as in production:
    sockets hear 1001, then the process's resources close)."""
    app = init_app(settings)
    if gate is not None:
        app.middlewares.insert(0, gate.middleware)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield app
    finally:
        await runner.cleanup()


@dataclass
class FeedGate:
    """Refuses the live feed's handshake (503) while closed, as a proxy in trouble would; the
    pages themselves keep answering."""

    closed: bool = False

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.closed and request.path == "/ws":
            raise web.HTTPServiceUnavailable()
        return await handler(request)


async def test_the_overview_counts_a_finished_job_without_reload(
    as_admin: Browsing, site: Site
) -> None:
    page = await as_admin.open("/")
    await expect(page.locator(SUCCESS_TILE)).to_have_text("0")
    await page.evaluate("window.loadedAt = performance.timeOrigin")  # gone if the page reloads
    await run_until_recorded(site.resources, enqueue_ping(site, "x"))
    await expect(page.locator(SUCCESS_TILE)).to_have_text("1")
    assert await page.evaluate("window.loadedAt === performance.timeOrigin")  # the same page
    await expect(page.locator("#live-banner")).to_be_hidden()


async def test_while_the_feed_is_refused_the_page_says_so_and_polls(
    browsing: Browsing, site: Site, settings: Settings
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    await browsing.context.add_cookies([{**await site.session_cookie(site.admin), "url": url}])
    gate = FeedGate()
    async with web_server(settings, port, gate) as app:
        page = await browsing.new_page()
        await page.goto(url + "/")
        await page.evaluate("window.loadedAt = performance.timeOrigin")
        banner = page.locator("#live-banner")
        await expect(page.locator(SUCCESS_TILE)).to_have_text("0")
        await expect(banner).to_be_hidden()

        gate.closed = True
        await app[HUB].close_sockets()  # the page's socket is cut, and cannot come back
        await expect(banner).to_be_visible()
        await run_until_recorded(site.resources, enqueue_ping(site, "polled"))
        # no socket: the next 10 s poll brings the job in
        await expect(page.locator(SUCCESS_TILE)).to_have_text("1", timeout=POLL_TIMEOUT_MS)
        await expect(banner).to_be_visible()
        refused = browsing.watch.take()
        assert refused and all("/ws" in problem and "503" in problem for problem in refused), (
            refused
        )

        gate.closed = False
        await expect(banner).to_be_hidden(timeout=RECONNECT_TIMEOUT_MS)
        assert await page.evaluate("window.loadedAt === performance.timeOrigin")  # no reload
        browsing.watch.take()  # handshakes refused between the last take and the reopening


async def test_the_page_recovers_after_the_web_server_restarts(
    browsing: Browsing, site: Site, settings: Settings
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cookie = await site.session_cookie(site.admin)
    await browsing.context.add_cookies([{**cookie, "url": url}])
    async with web_server(settings, port):
        page = await browsing.new_page()
        await page.goto(url + "/")
        await expect(page.locator(SUCCESS_TILE)).to_have_text("0")
        await page.evaluate("window.loadedAt = performance.timeOrigin")
        banner = page.locator("#live-banner")
        await expect(banner).to_be_hidden()

    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("Live updates are paused")
    await browsing.shot(page, "server-away")
    await run_until_recorded(site.resources, enqueue_ping(site, "y"))

    async with web_server(settings, port):
        await expect(banner).to_be_hidden(timeout=RECONNECT_TIMEOUT_MS)
        await expect(page.locator(SUCCESS_TILE)).to_have_text("1")  # what happened meanwhile
        assert await page.evaluate("window.loadedAt === performance.timeOrigin")  # no reload
        await browsing.shot(page, "server-back")
        # while the server was away, the page's refreshes and reconnects failed, and said so
        away = browsing.watch.take()
        assert away, "the page should have tried to reach the server while it was away"
        assert all("ERR_CONNECTION_REFUSED" in problem for problem in away), away
