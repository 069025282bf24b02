"""The live channel: notifications published on Redis for the websocket feed."""

from __future__ import annotations

import json

from voicepipe import keys
from voicepipe.domain.notifications import Notification
from voicepipe.resources import Resources


async def publish(resources: Resources, sent: list[Notification]) -> None:
    """Publish notifications live, one message each (the feed routes them by recipient)."""
    async with resources.redis.pipeline(transaction=False) as pipe:
        for notification in sent:
            pipe.publish(keys.NOTIFICATIONS, live_message(notification))
        await pipe.execute()


def live_message(notification: Notification) -> str:
    return json.dumps({"type": "notification", **notification.model_dump(mode="json")})
