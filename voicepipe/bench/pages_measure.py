"""Timing admin pages over HTTP: one GET at a time with a session cookie, the web process's CPU
time from /proc around each page's rounds, every answer but a 200 kept as that page's error."""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout

from voicepipe.bench.waiting import percentile
from voicepipe.services.sessions import SESSION_COOKIE

MAX_HTML_BYTES = 200 * 1024
PAGE_TARGET_MS = 100.0
DETAIL_TARGET_MS = 50.0
Say = Callable[[str], None]


@dataclass(frozen=True)
class Page:
    """A page to time: `paths` are requested in turn, round after round (one, or sampled ids)."""

    name: str
    paths: tuple[str, ...]
    target_ms: float = PAGE_TARGET_MS

    @property
    def path(self) -> str:
        return self.paths[0] if len(self.paths) == 1 else _pattern(self.paths[0])


@dataclass
class Figures:
    page: Page
    samples_ms: list[float] = field(default_factory=list)
    html_bytes: int = 0
    cpu_ms: float = 0.0
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        measured = bool(self.samples_ms) and self.error is None
        p50 = round(percentile(self.samples_ms, 50), 2) if measured else None
        p95 = round(percentile(self.samples_ms, 95), 2) if measured else None
        cpu = round(self.cpu_ms / len(self.samples_ms), 2) if measured else None
        ok = (measured and p95 is not None and p95 <= self.page.target_ms
              and self.html_bytes <= MAX_HTML_BYTES)  # fmt: skip
        return {"path": self.page.path, "p50_ms": p50, "p95_ms": p95, "cpu_ms_per_request": cpu,
                "html_bytes": self.html_bytes, "target_ms": self.page.target_ms, "ok": ok,
                "error": self.error}  # fmt: skip


class PageFailed(Exception):
    """A page answered something else than a 200 (its status, and where it redirects to)."""


def cpu_ms(pid: int) -> float:
    """User + system CPU time the process `pid` has used so far (/proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces: skip past it
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) * 1000 / os.sysconf("SC_CLK_TCK")


class _NextLink(HTMLParser):
    """The href of the pager's `rel="next"` link ("Older →")."""

    def __init__(self) -> None:
        super().__init__()
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and self.href is None and "next" in (found.get("rel") or "").split():
            self.href = found.get("href")


def next_link(html: str) -> str | None:
    parser = _NextLink()
    parser.feed(html)
    return parser.href


class PageClient:
    """GETs as one signed-in browser would, without following redirects (a 303 to /login is an
    error, not the login page's timing)."""

    def __init__(self, url: str, session_token: str) -> None:
        self.url = url
        self.http = ClientSession(
            timeout=ClientTimeout(total=60), cookies={SESSION_COOKIE: session_token}
        )

    async def get(self, path: str) -> tuple[float, bytes]:
        started = time.perf_counter()
        async with self.http.get(self.url + path, allow_redirects=False) as response:
            body = await response.read()
        ms = (time.perf_counter() - started) * 1000
        if response.status != 200:
            location = response.headers.get("Location")
            to = f" to {location}" if location else ""
            raise PageFailed(f"HTTP {response.status} {response.reason or ''}{to}".strip())
        if response.content_type != "text/html":
            raise PageFailed(f"HTTP 200 but {response.content_type}, not a page")
        return ms, body

    async def close(self) -> None:
        await self.http.close()


async def warm_up(client: PageClient, pages: list[Page]) -> None:
    """One request of each page (a page that fails here fails again when timed, and is reported)."""
    for page in pages:
        with contextlib.suppress(PageFailed):
            await client.get(page.paths[0])


async def time_page(client: PageClient, pid: int, page: Page, rounds: int) -> Figures:
    """`rounds` requests of `page` in a row; the first failure ends them and is the error."""
    figures = Figures(page)
    rng = random.Random(page.name)
    cpu_before = cpu_ms(pid)
    path = page.paths[0]
    try:
        for _ in range(rounds):
            path = rng.choice(page.paths)
            ms, body = await client.get(path)
            figures.samples_ms.append(ms)
            figures.html_bytes = max(figures.html_bytes, len(body))
    except PageFailed as exc:
        figures.error = f"{exc} (GET {path})"
    figures.cpu_ms = cpu_ms(pid) - cpu_before
    return figures


def _pattern(path: str) -> str:
    """/jobs/abc123 -> /jobs/{id}: the name of a page requested with sampled ids."""
    head, _, _ = path.rpartition("/")
    return f"{head}/{{id}}"
