"""What the browser tests share: the real app on a real port with an admin and a user who have
passwords, Chromium launched by Playwright in the test's event loop, a watch on every page of a
browser context, screenshots, and signing in.

The watch fails the test (tests/browser/conftest.py) on any console error (a CSP violation is
one), uncaught page error, crashed page, failed request, or response with a status of 400 or
more, unless the test declared it first with `browsing.watch.expect(status, path)`; a test that
expects a problem on purpose takes it with `browsing.watch.take()`. Every page a test reaches is
saved with `browsing.shot(page, name)` as <basetemp>/screenshots/<test>-<name>.png, at the
context's 1280×800 viewport (or whatever the test has set), and its path is printed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestServer
from playwright._impl._api_structures import SetCookieParam, ViewportSize
from playwright.async_api import (
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    Request,
    Response,
    WebError,
)

from voicepipe.resources import Resources
from voicepipe.services import sessions
from voicepipe.services.accounts import bootstrap_admin, create_user
from voicepipe.settings import Settings
from voicepipe.web.app import init_app

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (scripts/setup --test installs it)
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]  # root, in a container
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
TIMEOUT_MS = 10_000  # an action or navigation that takes longer is a failure, not a slow pass
SHOTS: pytest.StashKey[list[Path]] = pytest.StashKey()  # every screenshot of the run
# Known page bugs (status, path), tolerated until fixed, then removed here; none now.
KNOWN_BUGS: frozenset[tuple[int, str]] = frozenset()
# what Chromium writes to the console for every response of status >= 400
_FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


@dataclass(frozen=True)
class Login:
    """An account that signs in through the form."""

    id: int
    email: str
    password: str


@dataclass(frozen=True)
class Site:
    """The running app: its address, its bootstrap admin, a user, and resources to seed data."""

    url: str
    admin: Login
    user: Login
    resources: Resources

    async def session_cookie(self, login: Login) -> SetCookieParam:
        """A real session of `login`, as the cookie POST /login would have set."""
        token = await sessions.create(self.resources, login.id)
        return {
            "name": sessions.SESSION_COOKIE,
            "value": token,
            "url": self.url,
            "httpOnly": True,
            "sameSite": "Lax",
        }


@asynccontextmanager
async def running_site(settings: Settings, resources: Resources) -> AsyncIterator[Site]:
    """init_app on 127.0.0.1 and a free port, in this event loop, with its two accounts."""
    admin = await bootstrap_admin(resources.db, "admin@example.org")
    user = await create_user(resources.db, "user@example.org", with_password=True)
    assert admin is not None and admin.password and user.password
    server = TestServer(init_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        yield Site(
            str(server.make_url("")).rstrip("/"),
            Login(admin.id, admin.email, admin.password),
            Login(user.id, user.email, user.password),
            resources,
        )
    finally:
        await server.close()


def is_abandoned(request: Request) -> bool:
    """A background request the browser dropped because the page was being left (a form sent, a
    link followed): a live refresh (static/live.js) or the icon Chromium fetches after a page has
    loaded. Nobody was waiting for either any more."""
    if "ERR_ABORTED" not in (request.failure or ""):
        return False
    live = "x-voicepipe-live" in request.headers  # Playwright gives header names in lower case
    return live or urlsplit(request.url).path == "/static/favicon.svg"


@dataclass
class Watch:
    """Problems seen on any page of one browser context, and the refusals the test expects."""

    problems: list[str] = field(default_factory=list)
    expected: set[tuple[int, str]] = field(default_factory=set)
    seen: list[tuple[int, str]] = field(default_factory=list)  # the expected ones, as they came
    known: list[tuple[int, str]] = field(default_factory=list)  # KNOWN_BUGS met, as they came
    responses: int = 0
    _reported: int = 0

    def attach(self, context: BrowserContext) -> None:
        context.on("console", self._console)
        context.on("weberror", self._page_error)
        context.on("requestfailed", self._request_failed)
        context.on("response", self._response)
        context.on("page", lambda page: page.on("crash", lambda _: self._add(f"crash: {page.url}")))

    def expect(self, status: int, path: str) -> None:
        """Responses of `status` for `path` (and Chromium's console line about them) are fine."""
        self.expected.add((status, path))

    def take(self) -> list[str]:
        """The problems so far, forgotten: for a test that caused them on purpose."""
        taken, self.problems, self._reported = self.problems, [], 0
        return taken

    def unreported(self) -> list[str]:
        new = self.problems[self._reported :]
        self._reported = len(self.problems)
        return new

    def _add(self, problem: str) -> None:
        self.problems.append(problem)

    def _is_expected(self, status: int, url: str) -> bool:
        return (status, urlsplit(url).path) in self.expected

    @staticmethod
    def _is_known_bug(status: int, url: str) -> bool:
        return (status, urlsplit(url).path) in KNOWN_BUGS

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        failed = _FAILED_LOAD.match(message.text)
        if failed and (
            self._is_expected(int(failed.group(1)), url)
            or self._is_known_bug(int(failed.group(1)), url)
        ):
            return
        self._add(f"console error ({url}): {message.text}")

    def _page_error(self, error: WebError) -> None:
        page = error.page.url if error.page else "?"
        self._add(f"page error ({page}): {error.error.message}")

    def _request_failed(self, request: Request) -> None:
        if is_abandoned(request):
            return
        self._add(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        self.responses += 1
        if response.status < 400:
            return
        if self._is_known_bug(response.status, response.url):
            self.known.append((response.status, urlsplit(response.url).path))
            return
        if self._is_expected(response.status, response.url):
            self.seen.append((response.status, urlsplit(response.url).path))
            return
        self._add(f"HTTP {response.status}: {response.request.method} {response.url}")


@dataclass
class Browsing:
    """One test's browser context on the site: watched, with screenshots named after the test."""

    site: Site
    context: BrowserContext
    watch: Watch
    folder: Path
    test: str
    collected: list[Path]

    async def new_page(self) -> Page:
        return await self.context.new_page()

    async def open(self, path: str) -> Page:
        """A new page at `path`, loaded and answered with a status under 400."""
        page = await self.context.new_page()
        response = await page.goto(path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        return page

    async def shot(self, page: Page, name: str) -> Path:
        path = self.folder / f"{self.test}-{name}.png"
        await page.screenshot(path=path)
        print(f"screenshot: {path}")
        self.collected.append(path)
        return path

    async def sign_in_as(self, login: Login) -> None:
        """Sign this context in without the form (the sign-in tests use the form)."""
        await self.context.add_cookies([await self.site.session_cookie(login)])


# What has the keyboard focus: its text, whether the focus shows (":focus-visible" with an outline,
# on screen), and the first ancestor that clips the outline ring (overflow other than visible), if any.
_FOCUS = """() => {
    const e = document.activeElement;
    const style = getComputedStyle(e);
    const box = e.getBoundingClientRect();
    const width = parseFloat(style.outlineWidth);
    const grow = Math.max(0, parseFloat(style.outlineOffset) + width);  // beyond the border box
    let clippedBy = null;
    for (let a = e.parentElement; a && a !== document.body && !clippedBy; a = a.parentElement) {
        const s = getComputedStyle(a);
        if (s.overflowX === "visible" && s.overflowY === "visible") continue;
        const r = a.getBoundingClientRect();
        const left = r.left + a.clientLeft, top = r.top + a.clientTop;
        if (box.left - grow < left - 0.5 || box.top - grow < top - 0.5
            || box.right + grow > left + a.clientWidth + 0.5
            || box.bottom + grow > top + a.clientHeight + 0.5) {
            clippedBy = a.tagName.toLowerCase() + (a.className ? "." + a.className : "");
        }
    }
    return {
        text: e.textContent.trim(),
        visible: e.matches(":focus-visible") && style.outlineStyle !== "none" && width > 0
            && box.bottom > 0 && box.top < innerHeight && box.width > 0,
        clipped_by: clippedBy,
    };
}"""


@dataclass(frozen=True)
class Focus:
    text: str
    visible: bool
    clipped_by: str | None


async def focused(page: Page) -> Focus:
    """The element with the keyboard focus, as the reader sees it."""
    return Focus(**await page.evaluate(_FOCUS))


async def sign_in(page: Page, login: Login) -> None:
    """Through the real form: /login, email, password, "Sign in" (the page then goes where
    the form sends it)."""
    await page.goto("/login")
    await page.get_by_label("Email").fill(login.email)
    await page.get_by_label("Password").fill(login.password)
    await page.get_by_role("button", name="Sign in").click()


def file_name_of(node_name: str) -> str:
    """A test's name fit for a file name."""
    return re.sub(r"[^\w.-]+", "_", node_name.removeprefix("test_")).strip("_")


@dataclass(frozen=True)
class Overflow:
    scroll_width: int
    past_the_edge: list[str]  # elements reaching past the viewport's right edge (outside scrollers)


async def sideways_overflow(page: Page) -> Overflow:
    """What makes the page scroll sideways: its scroll width and every element past the right edge
    of the viewport, except inside the frames that scroll on purpose (charts, tables, code) and
    what only screen readers get."""
    width = await page.evaluate("window.innerWidth")
    found = await page.evaluate(
        """(limit) => [document.documentElement.scrollWidth,
            [...document.querySelectorAll("body *")]
            .filter(e => e.getBoundingClientRect().right > limit + 1)
            .filter(e => !e.closest(".chart-frame, .table-frame, pre.code, .visually-hidden"))
            .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
                      + (e.className && typeof e.className === "string" ? "." + e.className : ""))]""",
        width,
    )
    return Overflow(int(found[0]), list(found[1]))


async def assert_no_sideways_scroll(page: Page) -> None:
    """At the page's (phone) width nothing makes the page itself scroll sideways."""
    overflow = await sideways_overflow(page)
    width = await page.evaluate("window.innerWidth")
    assert overflow.scroll_width <= width + 1, overflow
    assert overflow.past_the_edge == [], overflow.past_the_edge[:10]


def answer_next_dialog(page: Page, accept: bool = True) -> list[str]:
    """Say yes (or no) to the next confirm() dialog of `page`; the list returned gets its question."""
    asked: list[str] = []

    async def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await (dialog.accept() if accept else dialog.dismiss())

    page.once("dialog", answer)
    return asked
