"""A user's notification preferences: read (the defaults until they choose), checked and saved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from voicepipe.db import preferences as preferences_db
from voicepipe.domain.notifications import (
    CHANNELS,
    LEVELS,
    Channel,
    Level,
    Preferences,
    check_preferences,
)
from voicepipe.errors import Unprocessable
from voicepipe.resources import Resources


async def get_preferences(resources: Resources, user_id: int) -> Preferences:
    """The user's preferences, channels in their usual order (as saving returns them)."""
    stored = (await preferences_db.for_users(resources.db, [user_id]))[user_id]
    return Preferences(
        channels={
            level: [c for c in CHANNELS if c in chosen] for level, chosen in stored.channels.items()
        }
    )


async def set_preferences(
    resources: Resources, user_id: int, channels: Mapping[str, Sequence[str]]
) -> Preferences:
    """Save the channels each level reaches; every level must be named, and `critical` must keep
    every channel. Returns them normalised (channels once each, in their usual order)."""
    checked = parse_preferences(channels)
    await preferences_db.save(resources.db, user_id, checked)
    return checked


def parse_preferences(channels: Mapping[str, Sequence[str]]) -> Preferences:
    """Preferences from a client's `{level: [channel, ...]}`; Unprocessable saying what is wrong."""
    parsed: dict[Level, list[Channel]] = {}
    for level, names in channels.items():
        if level not in LEVELS:
            raise Unprocessable(f"unknown level {level!r}; levels are {', '.join(LEVELS)}")
        unknown = [name for name in names if name not in CHANNELS]
        if unknown:
            raise Unprocessable(
                f"unknown channel {unknown[0]!r} for level {level!r}; channels are "
                f"{', '.join(CHANNELS)}"
            )
        parsed[level] = [c for c in CHANNELS if c in names]
    try:
        return check_preferences(Preferences(channels=parsed))
    except ValueError as exc:
        raise Unprocessable(str(exc)) from None
