"""send_notification: stored for each recipient first, then published live; never half of each.

The `database` channel keeps the notification, with read state; the `redis` channel publishes it
on `keys.NOTIFICATIONS` for the websocket feed. A notification is stored before it is published,
so a live message always names a row that exists (unless it is live only).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from voicepipe import keys
from voicepipe.db import notifications as notifications_db
from voicepipe.domain.notifications import CHANNELS, LEVELS, Audience, Channel, Level, Notification
from voicepipe.errors import InvalidInput, NotFound
from voicepipe.resources import Resources

log = logging.getLogger(__name__)


async def send_notification(
    resources: Resources,
    title: str,
    message: str,
    level: Level = "info",
    channels: Sequence[Channel] = CHANNELS,
    recipient_id: int | None = None,
    recipient_type: Audience = "user",
    job_id: str | None = None,
    data: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> list[Notification]:
    """Notify one user (`recipient_id`), every admin (`recipient_type="admin"`) or everyone
    (`"all"`); returns the notifications sent, one per recipient. With `dedupe_key`, a recipient
    who was sent one with that key already is skipped (a job's failure notifies once)."""
    _check(level, channels)
    recipients = await _recipients(resources, recipient_id, recipient_type)
    data = data or {}
    if "database" in channels:
        sent = await notifications_db.insert(
            resources.db, recipients, title, message, level, list(channels), recipient_type,
            job_id, data, dedupe_key,
        )  # fmt: skip
    else:
        now = datetime.now(UTC)
        sent = [
            Notification(id=None, recipient_id=r, title=title, message=message, level=level,
                         channels=list(channels), audience=recipient_type, job_id=job_id,
                         data=data, created_at=now)
            for r in recipients
        ]  # fmt: skip
    if "redis" in channels and sent:
        await publish(resources, sent)
    return sent


async def publish(resources: Resources, sent: list[Notification]) -> None:
    """Publish notifications live, one message each (the feed routes them by recipient)."""
    async with resources.redis.pipeline(transaction=False) as pipe:
        for notification in sent:
            pipe.publish(keys.NOTIFICATIONS, live_message(notification))
        await pipe.execute()


def live_message(notification: Notification) -> str:
    return json.dumps({"type": "notification", **notification.model_dump(mode="json")})


def _check(level: str, channels: Sequence[str]) -> None:
    if level not in LEVELS:
        raise InvalidInput(f"unknown level {level!r}; levels are {', '.join(LEVELS)}")
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise InvalidInput(
            f"channel {unknown[0]!r} is not available; channels are {', '.join(CHANNELS)}"
        )
    if not channels:
        raise InvalidInput("a notification needs at least one channel")


async def _recipients(
    resources: Resources, recipient_id: int | None, recipient_type: Audience
) -> list[int]:
    if recipient_type == "user":
        if recipient_id is None:
            raise InvalidInput("a notification to one user needs recipient_id")
        if not await notifications_db.user_exists(resources.db, recipient_id):
            raise NotFound(f"no user with id {recipient_id}")
        return [recipient_id]
    if recipient_id is not None:
        raise InvalidInput(f"recipient_id goes with recipient_type 'user', not {recipient_type!r}")
    return await notifications_db.user_ids(resources.db, admins_only=recipient_type == "admin")
