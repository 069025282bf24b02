"""The Notifications pages: the reader's own inbox (GET /notifications, newest first, unread ones
marked, mark one or all read), and for admins the system notifications and the alerts' states
(GET /notifications/system). New notifications arrive in the open page (live topic
"notification")."""

from __future__ import annotations

import asyncio

from aiohttp import web

from voicepipe import errors
from voicepipe.db.users import UserRow
from voicepipe.domain.alerts import AlertState
from voicepipe.domain.notifications import NotificationPage
from voicepipe.services import notifications
from voicepipe.services.notifications.alerts import current_alerts
from voicepipe.web.context import resources_of
from voicepipe.web.pages import actions
from voicepipe.web.pages.overview import alert_label
from voicepipe.web.pages.render import render_page
from voicepipe.web.pages.session import require_admin, require_user

ROUTES = web.RouteTableDef()

PAGE_ROWS = 50
UNREAD_COUNTED_UP_TO = 99  # "99+ unread" beyond: a bounded read of the unread index
ALERT_ORDER = {"firing": 0, "pending": 1, "ok": 2}


@ROUTES.get("/notifications", name="notifications")
async def inbox(request: web.Request) -> web.Response:
    user = await require_user(request)
    return await _render(request, user, "inbox", system_only=False)


@ROUTES.get("/notifications/system", name="notifications-system")
async def system(request: web.Request) -> web.Response:
    user = await require_admin(request)
    return await _render(request, user, "system", system_only=True)


async def _render(request: web.Request, user: UserRow, tab: str, system_only: bool) -> web.Response:
    cursor = request.query.get("cursor") or None
    resources = resources_of(request)
    page, unread, alerts = await asyncio.gather(
        notifications.list_notifications(
            resources, user.id, PAGE_ROWS, cursor, system_only=system_only
        ),
        notifications.list_notifications(
            resources, user.id, UNREAD_COUNTED_UP_TO, unread_only=True, system_only=system_only
        ),
        current_alerts(resources) if system_only else _no_alerts(),
    )
    path = request.path
    return render_page(request, "notifications.html", user, "notifications", {
        "live": "notification", "tab": tab, "page": page, "here": request.path_qs,
        "unread_text": _unread_text(unread), "unread": len(unread.items),
        "alerts": sorted(alerts, key=lambda a: (ALERT_ORDER.get(a.status, 3), a.key)),
        "alert_label": alert_label,
        "first_url": path, "on_first_page": cursor is None,
        "next_url": f"{path}?cursor={page.next_cursor}" if page.next_cursor else None,
    })  # fmt: skip


async def _no_alerts() -> list[AlertState]:
    return []


def _unread_text(unread: NotificationPage) -> str:
    count = len(unread.items)
    if unread.next_cursor:
        return f"{count}+ unread"
    return f"{count} unread" if count else "all read"


@ROUTES.post("/notifications/{notification_id}/read")
async def mark_read(request: web.Request) -> web.Response:
    # marking one's own notification read is harmless: no confirmation (CSRF is still checked)
    user = await require_user(request)
    form = await actions.posted(request)
    text = request.match_info["notification_id"]
    return await actions.run(_back(form), _mark_read(request, user, text))


async def _mark_read(request: web.Request, user: UserRow, text: str) -> str:
    if not text.isdigit() or len(text) > 18:
        raise errors.NotFound(f"no notification with id {text}")
    marked = await notifications.mark_read(resources_of(request), user.id, int(text))
    return f"Marked “{marked.title}” read."


@ROUTES.post("/notifications/read-all")
async def mark_all_read(request: web.Request) -> web.Response:
    user = await require_user(request)
    form = await actions.posted(request)
    return await actions.run(_back(form), _mark_all_read(request, user))


async def _mark_all_read(request: web.Request, user: UserRow) -> str:
    count = await notifications.mark_all_read(resources_of(request), user.id)
    return f"Marked {count} notification{'' if count == 1 else 's'} read."


def _back(form: actions.Form) -> str:
    """The notifications page the form was on (a path of this site's notifications pages)."""
    back = form.get("back")
    if isinstance(back, str) and back.startswith("/notifications"):
        return actions.local(back)
    return "/notifications"
