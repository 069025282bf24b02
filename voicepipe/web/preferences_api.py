"""Handlers of the notification preferences endpoints: a caller reads and sets their own."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from voicepipe.domain.notifications import CHANNELS, LEVELS, Preferences
from voicepipe.services.notifications import preferences
from voicepipe.web.api import Call


class PreferencesBody(BaseModel):
    """Every level with the channels it reaches; `critical` must name every channel."""

    model_config = ConfigDict(extra="forbid")

    channels: dict[str, list[str]] = Field(
        description=f"level ({', '.join(LEVELS)}) -> channels ({', '.join(CHANNELS)})",
        examples=[{"info": ["redis", "database"], "critical": list(CHANNELS)}],
    )


async def get_preferences(call: Call) -> Preferences:
    return await preferences.get_preferences(call.resources, call.caller.id)


async def put_preferences(call: Call) -> Preferences:
    body: PreferencesBody = call.body
    return await preferences.set_preferences(call.resources, call.caller.id, body.channels)
