"""Notifications: levels, channels, audiences, and what one notification holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Level = Literal["info", "success", "warning", "error", "critical"]
LEVELS: tuple[Level, ...] = ("info", "success", "warning", "error", "critical")
# live: published on Redis for the websocket feed; database: kept, with read state
Channel = Literal["redis", "database"]
CHANNELS: tuple[Channel, ...] = ("redis", "database")
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


def job_level(status: str) -> Level:
    """The level a job's final status is told with."""
    levels: dict[str, Level] = {"failure": "error", "cancelled": "warning", "success": "success"}
    return levels.get(status, "info")
