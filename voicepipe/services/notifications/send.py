"""send_notification: stored for each recipient, delivered by jobs, published live.

Every notification is stored, one row per recipient, with the channels it goes on: the
requested ones the recipient's preferences take for its level (`critical`: all of them). In the
same transaction each delivered channel (email, webhook, push) stores its deliveries; after the
commit their jobs are enqueued and the notification is published live (`redis`). So sending
returns once everything is stored and never waits for an SMTP server, a webhook endpoint or a
push service; the inbox (`database`) lists the rows that go on that channel.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from voicepipe.db import notifications as notifications_db
from voicepipe.db import preferences as preferences_db
from voicepipe.domain.notifications import (
    CHANNELS,
    LEVELS,
    Audience,
    Channel,
    Level,
    Notification,
    channels_for,
)
from voicepipe.engine.broker import JobSpec
from voicepipe.engine.registry import broker_for
from voicepipe.errors import InvalidInput, NotFound
from voicepipe.resources import Resources
from voicepipe.services.notifications import email_channel, push_channel, webhook_channel
from voicepipe.services.notifications.live import publish
from voicepipe.services.notifications.planning import Planner
from voicepipe.settings import Settings

log = logging.getLogger(__name__)

PLANNERS: dict[Channel, Planner] = {
    "email": email_channel.plan,
    "webhook": webhook_channel.plan,
    "push": push_channel.plan,
}
_said_email_is_off = False


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
    (`"all"`) on `channels`, as each recipient's preferences allow; returns the notifications
    sent, one per recipient. With `dedupe_key`, a recipient who was sent one with that key
    already is skipped (a job's failure notifies once)."""
    _check(level, channels)
    recipients = await _recipients(resources, recipient_id, recipient_type)
    requested = _available(resources.settings, channels)
    preferences = await preferences_db.for_users(resources.db, recipients)
    channels_of = {r: channels_for(preferences[r], level, requested) for r in recipients}
    channels_of = {r: chosen for r, chosen in channels_of.items() if chosen}
    if not channels_of:
        return []
    specs: list[JobSpec] = []
    async with resources.db.acquire() as conn, conn.transaction():
        sent = await notifications_db.insert(
            conn, channels_of, title, message, level, recipient_type, job_id, data or {},
            dedupe_key,
        )  # fmt: skip
        for channel, plan in PLANNERS.items():
            carried = [n for n in sent if channel in n.channels]
            if carried:
                specs += await plan(conn, resources, carried)
    if specs:
        # ids name what they deliver: one already queued (or done) is not queued again
        await broker_for(resources).enqueue(specs)
    live = [n for n in sent if "redis" in n.channels]
    if live:
        await publish(resources, live)
    return sent


def _available(settings: Settings, channels: Sequence[Channel]) -> list[Channel]:
    """The channels this installation can send on: email needs VOICEPIPE_SMTP_URL."""
    global _said_email_is_off
    if settings.smtp_url is None and "email" in channels:
        if not _said_email_is_off:
            log.info("email notifications are off: VOICEPIPE_SMTP_URL is not set")
            _said_email_is_off = True
        return [c for c in channels if c != "email"]
    return list(channels)


def _check(level: str, channels: Sequence[str]) -> None:
    if level not in LEVELS:
        raise InvalidInput(f"unknown level {level!r}; levels are {', '.join(LEVELS)}")
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise InvalidInput(f"unknown channel {unknown[0]!r}; channels are {', '.join(CHANNELS)}")
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
