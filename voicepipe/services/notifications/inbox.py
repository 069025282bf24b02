"""A user's notifications: pages newest first, unread ones only, read state."""

from __future__ import annotations

from voicepipe.db import notifications as notifications_db
from voicepipe.domain.job_info import decode_cursor, encode_cursor
from voicepipe.domain.notifications import Notification, NotificationPage
from voicepipe.errors import InvalidInput, NotFound
from voicepipe.resources import Resources


async def list_notifications(
    resources: Resources, user_id: int, limit: int = 50, cursor: str | None = None,
    unread_only: bool = False, system_only: bool = False,
) -> NotificationPage:  # fmt: skip
    """The user's notifications; `system_only`: those sent to the admins (system and alerts)."""
    after = None
    if cursor is not None:
        at, id_text = decode_cursor(cursor)
        if not id_text.isdigit():
            raise InvalidInput("the page cursor is not one this server gave out")
        after = (at, int(id_text))
    items = await notifications_db.page_for(
        resources.db, user_id, limit + 1, after, unread_only, "admin" if system_only else None
    )
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = encode_cursor(last.created_at, str(last.id))
    return NotificationPage(items=items, next_cursor=next_cursor)


async def mark_read(resources: Resources, user_id: int, notification_id: int) -> Notification:
    marked = await notifications_db.mark_read(resources.db, notification_id, user_id)
    if marked is None:
        raise NotFound(f"no notification with id {notification_id}")
    return marked


async def mark_all_read(resources: Resources, user_id: int) -> int:
    return await notifications_db.mark_all_read(resources.db, user_id)
