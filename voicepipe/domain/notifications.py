"""Notifications: levels, channels, audiences, and what one notification holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Level = Literal["info", "success", "warning", "error", "critical"]
LEVELS: tuple[Level, ...] = ("info", "success", "warning", "error", "critical")
# redis: published live for the websocket feed; database: kept, with read state, in the inbox;
# email, webhook, push: delivered by jobs (email in digests)
Channel = Literal["redis", "database", "email", "webhook", "push"]
CHANNELS: tuple[Channel, ...] = ("redis", "database", "email", "webhook", "push")
DELIVERED: tuple[Channel, ...] = ("email", "webhook", "push")  # each has a planner and a job
# one user, every admin, or everyone
Audience = Literal["user", "admin", "all"]


class Notification(BaseModel):
    """One notification to one recipient; `id` is None for a live-only one (not kept)."""

    id: int | None
    recipient_id: int
    title: str
    message: str
    level: Level
    channels: list[Channel]
    audience: Audience
    job_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    read_at: datetime | None = None


class NotificationPage(BaseModel):
    items: list[Notification]
    next_cursor: str | None = Field(default=None, description="null on the last page")


class Preferences(BaseModel):
    """Which levels reach which channel, for one user. `critical` reaches every channel and
    cannot be muted."""

    channels: dict[Level, list[Channel]] = Field(
        description="for each level, the channels it is sent on"
    )


def default_preferences() -> Preferences:
    """Everything live and in the inbox; `error` and up by email; webhooks and push get every
    level (what reaches them is what the user registered them for)."""
    return Preferences(
        channels={
            level: ["redis", "database", "webhook", "push"]
            + (["email"] if level in ("error", "critical") else [])
            for level in LEVELS
        }
    )


def check_preferences(preferences: Preferences) -> Preferences:
    """Every level present, each channel once, `critical` on every channel; else ValueError."""
    missing = [level for level in LEVELS if level not in preferences.channels]
    if missing:
        raise ValueError(f"preferences name no channels for level {missing[0]!r}")
    muted = [c for c in CHANNELS if c not in preferences.channels["critical"]]
    if muted:
        raise ValueError(f"critical notifications cannot be muted (channel {muted[0]!r})")
    return Preferences(
        channels={
            level: [c for c in CHANNELS if c in preferences.channels[level]] for level in LEVELS
        }
    )


def channels_for(
    preferences: Preferences, level: Level, requested: Sequence[Channel]
) -> list[Channel]:
    """The requested channels the recipient takes this level on (all of them for critical)."""
    if level == "critical":
        return list(requested)
    wanted = preferences.channels.get(level, [])
    return [c for c in requested if c in wanted]


def job_level(status: str) -> Level:
    """The level a job's final status is told with."""
    levels: dict[str, Level] = {"failure": "error", "cancelled": "warning", "success": "success"}
    return levels.get(status, "info")
