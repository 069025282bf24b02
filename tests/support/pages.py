"""What the page tests share: one running app, clients signed in as users of it, and a reader of
the tables, links and CSP-relevant parts of a page.

A `PagesSite` starts the real app once; `site.sign_in(email)` creates a user and a session and
hands back a `Signed` client with its own cookie jar (the session cookie, and the flash message an
action leaves for the next page), so an admin and a user can act on the same server side by side.
Import `site_fixture`, `admin_fixture` and `user_fixture` into a test module to get the `site`,
`admin` (admin@example.org) and `user` (user@example.org) fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Self

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from voicepipe.resources import Resources
from voicepipe.services import sessions
from voicepipe.services.accounts import create_user
from voicepipe.settings import Settings
from voicepipe.web.app import init_app
from voicepipe.web.pages.session import token_for

Client = TestClient[Any, Any]
Fields = list[tuple[str, str]]
MAX_HTML_BYTES = 200 * 1024  # the budget of one page's HTML


@dataclass
class Signed:
    """A client signed in as one user (the session cookie in its jar), its CSRF token and the
    user's id. No method follows a redirect unless it says so."""

    client: Client
    csrf: str
    user_id: int

    async def get_response(
        self, path: str, headers: dict[str, str] | None = None
    ) -> ClientResponse:
        return await self.client.get(path, headers=headers, allow_redirects=False)

    async def get(self, path: str) -> tuple[int, str]:
        response = await self.get_response(path)
        return response.status, await response.text()

    async def page(self, path: str, status: int = 200) -> str:
        """The HTML of `path`, which must answer `status` and fit in MAX_HTML_BYTES."""
        response = await self.get_response(path)
        body = await response.read()
        assert response.status == status, (path, response.status, body[:2000])
        assert len(body) < MAX_HTML_BYTES, (path, len(body))
        return body.decode()

    async def post_response(
        self, path: str, data: Fields | None = None, csrf: bool = True, confirmed: bool = True
    ) -> ClientResponse:
        """POST `data` (+ the token, + confirmed=yes), not following the redirect."""
        fields = [*(data or []), *[("csrf_token", self.csrf)] * csrf]
        fields += [("confirmed", "yes")] * confirmed
        return await self.client.post(path, data=fields, allow_redirects=False)

    async def post(
        self, path: str, data: Fields | None = None, csrf: bool = True, confirmed: bool = True
    ) -> tuple[int, str]:
        """Like `post_response`, but a redirect is followed to the page that shows the message:
        (status of the POST, text of what it led to)."""
        response = await self.post_response(path, data, csrf, confirmed)
        if response.status != 303:
            return response.status, await response.text()
        return 303, await self.page(response.headers["Location"])


class PagesSite:
    """The app on a test server, an anonymous client of it and a `Signed` client per user."""

    def __init__(self, server: TestServer, resources: Resources) -> None:
        self.server = server
        self.resources = resources
        self.anonymous: Client = TestClient(server)
        self._clients = [self.anonymous]

    async def sign_in(self, email: str, admin: bool = False) -> Signed:
        """A new user with a session, and a client of its own carrying that session."""
        user = await create_user(self.resources.db, email, admin=admin)
        token = await sessions.create(self.resources, user.id)
        client: Client = TestClient(self.server)
        self._clients.append(client)
        client.session.cookie_jar.update_cookies({sessions.SESSION_COOKIE: token})
        return Signed(client, token_for(token), user.id)

    async def close(self) -> None:
        for client in reversed(self._clients):  # the first to close stops the shared server
            await client.close()


@asynccontextmanager
async def pages_site(settings: Settings, resources: Resources) -> AsyncIterator[PagesSite]:
    site = PagesSite(TestServer(init_app(settings)), resources)
    await site.anonymous.start_server()
    try:
        yield site
    finally:
        await site.close()


@pytest.fixture(name="site")
async def site_fixture(settings: Settings, resources: Resources) -> AsyncIterator[PagesSite]:
    async with pages_site(settings, resources) as site:
        yield site


@pytest.fixture(name="admin")
async def admin_fixture(site: PagesSite) -> Signed:
    return await site.sign_in("admin@example.org", admin=True)


@pytest.fixture(name="user")
async def user_fixture(site: PagesSite) -> Signed:
    return await site.sign_in("user@example.org")


@dataclass
class Row:
    """A table row: its data-* attributes, its cells' text by column (data-label), its links."""

    attrs: dict[str, str]
    cells: dict[str, str] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)


class Outline(HTMLParser):
    """What the tests read from any page: its table rows, every link, and how many inline
    scripts, <style> elements, style and on* attributes it has (the CSP would refuse them)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Row] = []
        self.links: list[str] = []
        self.inline = 0
        self._row: Row | None = None
        self._cell: str | None = None

    @classmethod
    def of(cls, html: str) -> Self:
        outline = cls()
        outline.feed(html)
        return outline

    def ids(self, attribute: str) -> list[str]:
        """The values of `attribute` (data-job-id, data-recording) of the rows, in order."""
        return [row.attrs[attribute] for row in self.rows if attribute in row.attrs]

    def rows_by(self, attribute: str) -> dict[str, Row]:
        """The rows that carry `attribute` (data-queue, data-worker), by its value."""
        return {row.attrs[attribute]: row for row in self.rows if attribute in row.attrs}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.inline += "style" in a or tag == "style" or (tag == "script" and not a.get("src"))
        self.inline += any(name.startswith("on") for name in a)
        if tag == "tr":
            data = {k: v or "" for k, v in a.items() if k.startswith("data-")}
            self._row = Row(data)
            self.rows.append(self._row)
        elif tag in ("td", "th") and self._row is not None and a.get("data-label"):
            self._cell = str(a["data-label"])
            self._row.cells[self._cell] = ""
        elif tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))
            if self._row is not None:
                self._row.links.append(str(a["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._cell = None
        elif tag == "tr":
            self._row = self._cell = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._cell is not None:
            cells = self._row.cells
            cells[self._cell] = " ".join((cells[self._cell] + " " + data).split())


def job_ids(html: str) -> list[str]:
    """The job ids of the rows of a list of jobs (Jobs, Failed), in order."""
    return Outline.of(html).ids("data-job-id")
