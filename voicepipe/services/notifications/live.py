"""The live channel: notifications kept in a bounded Redis stream and published for live views.

Each live notification is appended to `keys.NOTIFICATION_STREAM` (trimmed to about
`ws_replay_max` entries) and published on `keys.NOTIFICATIONS`, in one MULTI/EXEC so neither
happens without the other. The websocket hub reads the stream (XREAD BLOCK), not the channel: a
stream entry has an id a client can reconnect with (`since=`), and a hub that lost Redis for a
while resumes from the last id it read instead of losing what was sent meanwhile. The channel
stays for other live listeners.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from voicepipe import keys
from voicepipe.domain.notifications import Notification
from voicepipe.resources import Resources

FIELD = b"n"  # the stream entry's field holding the notification's JSON
REPLAY_CHUNK = 1000  # entries read per XRANGE while replaying


@dataclass(frozen=True)
class Entry:
    """One kept notification: its stream id, its recipient and its fields."""

    stream_id: str
    recipient_id: int
    data: dict[str, Any]


async def publish(resources: Resources, sent: list[Notification]) -> list[str]:
    """Keep and publish notifications live, one message each (the feed routes them by
    recipient); returns their stream ids."""
    max_kept = resources.settings.ws_replay_max
    async with resources.redis.pipeline(transaction=True) as pipe:
        for notification in sent:
            message = live_message(notification)
            pipe.xadd(keys.NOTIFICATION_STREAM, {FIELD: message}, maxlen=max_kept, approximate=True)
            pipe.publish(keys.NOTIFICATIONS, message)
        replies = await pipe.execute()
    return [_text(stream_id) for stream_id in replies[::2]]


def live_message(notification: Notification) -> str:
    return json.dumps({"type": "notification", **notification.model_dump(mode="json")})


def parse_id(stream_id: str) -> tuple[int, int]:
    """A stream id as a comparable pair; ValueError if it is not one ("<ms>-<seq>")."""
    ms, dash, seq = stream_id.partition("-")
    if not dash or not ms.isdigit() or not seq.isdigit():
        raise ValueError(f"not a notification id: {stream_id!r}")
    return int(ms), int(seq)


def entries(raw: list[tuple[Any, dict[Any, Any]]]) -> list[Entry]:
    """Stream entries as Entry; an entry that is not a notification is skipped."""
    found = []
    for stream_id, fields in raw:
        text = fields.get(FIELD)
        if text is None:
            continue
        data = json.loads(text)
        found.append(Entry(_text(stream_id), int(data["recipient_id"]), data))
    return found


async def last_id(redis: Redis) -> str:
    """The newest entry's id ("0-0" when the stream is empty): where a reader starts."""
    newest = await redis.xrevrange(keys.NOTIFICATION_STREAM, count=1)
    return _text(newest[0][0]) if newest else "0-0"


async def read_after(redis: Redis, after_id: str, block_ms: int, count: int) -> list[Entry]:
    """Entries newer than `after_id`, waiting up to `block_ms` for one (XREAD BLOCK)."""
    reply = await redis.xread({keys.NOTIFICATION_STREAM: after_id}, count=count, block=block_ms)
    return entries(reply[0][1]) if reply else []


async def missed(redis: Redis, since_id: str, recipient_id: int) -> list[Entry] | None:
    """`recipient_id`'s entries newer than `since_id`, oldest first; None when the stream no
    longer reaches back to `since_id` (some may have been trimmed: the client must refetch)."""
    since = parse_id(since_id)
    oldest = await redis.xrange(keys.NOTIFICATION_STREAM, count=1)
    if not oldest or parse_id(_text(oldest[0][0])) > since:
        # an empty stream after a client saw an id means it was trimmed or lost with Redis
        return None
    found: list[Entry] = []
    after = since_id
    while True:
        chunk = await redis.xrange(
            keys.NOTIFICATION_STREAM, min=f"({after}", max="+", count=REPLAY_CHUNK
        )
        found += [e for e in entries(chunk) if e.recipient_id == recipient_id]
        if len(chunk) < REPLAY_CHUNK:
            return found
        after = _text(chunk[-1][0])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
