"""Handlers of the notification endpoints: a caller sees and marks only their own notifications."""

from __future__ import annotations

from voicepipe import errors
from voicepipe.domain.notifications import Notification, NotificationPage
from voicepipe.services import notifications
from voicepipe.web.api import Call
from voicepipe.web.models import MarkedRead, NotificationQuery


async def list_own(call: Call) -> NotificationPage:
    query: NotificationQuery = call.query
    return await notifications.list_notifications(
        call.resources, call.caller.id, query.limit, query.cursor, unread_only=query.unread
    )


async def list_system(call: Call) -> NotificationPage:
    query: NotificationQuery = call.query
    return await notifications.list_notifications(
        call.resources, call.caller.id, query.limit, query.cursor, unread_only=query.unread,
        system_only=True,
    )  # fmt: skip


async def mark_read(call: Call) -> Notification:
    text = call.path["notification_id"]
    if not text.isdigit() or len(text) > 18:
        raise errors.NotFound(f"no notification with id {text}")
    return await notifications.mark_read(call.resources, call.caller.id, int(text))


async def mark_all_read(call: Call) -> MarkedRead:
    return MarkedRead(marked=await notifications.mark_all_read(call.resources, call.caller.id))
