"""What every page shares: rendering a template inside base.html (the signed-in user, the CSRF
token, the navigation for their role, the message an action left, the formatting helpers), and the
table model templates/partials/table.html draws."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from voicepipe.db.users import UserRow
from voicepipe.web.pages import flash
from voicepipe.web.pages.session import csrf_token


@dataclass(frozen=True)
class NavLink:
    key: str  # the `active` value of the page it names
    label: str
    path: str
    admins_only: bool = True


# The header's links, in order; a user who is not an admin sees only theirs.
NAV: tuple[NavLink, ...] = (
    NavLink("overview", "Overview", "/"),
    NavLink("jobs", "Jobs", "/jobs", admins_only=False),
    NavLink("queues", "Queues", "/queues"),
    NavLink("workers", "Workers", "/workers"),
    NavLink("scheduled", "Scheduled", "/scheduled"),
    NavLink("failed", "Failed", "/failed"),
    NavLink("recordings", "Recordings", "/recordings", admins_only=False),
    NavLink("notifications", "Notifications", "/notifications", admins_only=False),
)


def nav_for(user: UserRow | None) -> list[NavLink]:
    if user is None:
        return []
    return [link for link in NAV if user.role == "admin" or not link.admins_only]


def render_page(
    request: web.Request, template: str, user: UserRow, active: str, context: dict[str, Any]
) -> web.Response:
    """`template` with `context` and what base.html needs for a signed-in `user` (pages for
    anyone, signed in or not, go through security.render_any)."""
    full = {
        "user": user,
        "csrf_token": csrf_token(request),
        "nav": nav_for(user),
        "active": active,
        "duration": duration,
        "age": age,
        "when": when,
        **context,
        "messages": [*flash.taken(request), *context.get("messages", [])],
    }
    response = aiohttp_jinja2.render_template(template, request, full)
    flash.clear(request, response)
    return response


def duration(seconds: float | None) -> str:
    """Seconds as people read them: "—", "4 ms", "1.3 s", "42 s", "3 min 5 s", "2 h 10 min", "3 d 4 h"."""
    if seconds is None or math.isnan(seconds):
        return "—"
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.1f}".removesuffix(".0") + " s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    whole = round(seconds)
    for unit_s, unit, sub_s, sub in ((86_400, "d", 3600, "h"), (3600, "h", 60, "min")):
        if whole >= unit_s:
            rest = (whole % unit_s) // sub_s
            return f"{whole // unit_s} {unit}" + (f" {rest} {sub}" if rest else "")
    rest = whole % 60
    return f"{whole // 60} min" + (f" {rest} s" if rest else "")


def age(moment: datetime | float | None, now: datetime | None = None) -> str:
    """How long ago `moment` (a datetime or epoch seconds) was: "just now", "3 s ago"; "—" for none."""
    if moment is None:
        return "—"
    at = moment if isinstance(moment, datetime) else datetime.fromtimestamp(moment, UTC)
    seconds = ((now or datetime.now(UTC)) - at).total_seconds()
    return "just now" if seconds < 1 else duration(seconds) + " ago"


def when(moment: datetime | None) -> str:
    """A moment in UTC, to the second: "2026-12-01 18:52:03"."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, and optionally a link, a CSS class and a hover title."""

    text: str
    href: str | None = None
    css: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Column:
    heading: str
    numeric: bool = False  # right-aligned, tabular figures
    names_row: bool = False  # its cells are the rows' headers (th scope=row)


@dataclass
class Table:
    """A table for partials/table.html: a caption (for screen readers only when a heading says
    the same), its columns, rows of cells, what to say when it has no rows. CSS class `stack`
    lays each row out as a card on a phone."""

    caption: str
    columns: Sequence[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    empty: str = "Nothing to show."
    css: str = ""
    caption_visible: bool = True

    def add(self, *cells: Cell | str | int | float) -> None:
        self.rows.append([c if isinstance(c, Cell) else Cell(str(c)) for c in cells])
