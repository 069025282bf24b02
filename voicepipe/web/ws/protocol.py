"""The feed's messages: what a client may send, what the server sends, and the close codes.

Every server message is a JSON object with a `type` and an `id`. A notification's id is its
stream id (`<ms>-<seq>`), which a client reconnects with (`GET /ws?since=<id>`); every other
message's id is `<process>.<seq>`: unique, but not replayed.
"""

from __future__ import annotations

import itertools
import json
import secrets
import struct
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

Topic = Literal["notification", "job", "worker"]
TOPICS: tuple[Topic, ...] = ("notification", "job", "worker")
ADMIN_TOPICS: frozenset[Topic] = frozenset({"worker"})
MAX_CLIENT_MESSAGE_BYTES = 4096  # the largest thing a client sends is a subscribe

# Close codes: 4000 + the HTTP status they mean, and 4008 for a client that does not keep up
# (like 1008, "policy violation").
AUTH_REQUIRED = (4401, "authentication required")
INVALID_TOKEN = (4401, "invalid token")
INVALID_SESSION = (4401, "session expired or invalid")
FOREIGN_ORIGIN = (4403, "the session cookie is accepted from this site's own pages only")
SLOW_CONSUMER = (4008, "slow consumer")
TRY_LATER = (1013, "a service the feed depends on is unavailable; try again soon")
GOING_AWAY = (1001, "server shutting down")


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Auth(_Message):
    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=200)


class Subscribe(_Message):
    """Narrow (or widen) what this socket gets: `topics` (default: every topic the user may
    have), `job_id` (only that job's events)."""

    type: Literal["subscribe"]
    topics: list[Topic] | None = None
    job_id: str | None = Field(default=None, min_length=1, max_length=200)


class Ping(_Message):
    type: Literal["ping"]


ClientMessage = Annotated[Auth | Subscribe | Ping, Field(discriminator="type")]
_CLIENT = TypeAdapter(ClientMessage)


class ProtocolError(ValueError):
    """A client message the feed cannot take; its text is sent back as an error message."""


def parse(text: str) -> Auth | Subscribe | Ping:
    try:
        return _CLIENT.validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        if first["type"] == "json_invalid":
            raise ProtocolError("messages are JSON objects with a type") from None
        if first["type"] in ("union_tag_not_found", "union_tag_invalid", "model_attributes_type"):
            raise ProtocolError("type must be one of auth, subscribe, ping") from None
        raise ProtocolError(f"{where}: {first['msg']}") from None


class Ids:
    """The ids of one process's ephemeral messages: a random process tag and a counter."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(4)
        self._count = itertools.count(1)

    def next(self) -> str:
        return f"{self.tag}.{next(self._count)}"


def encode(kind: str, message_id: str, **fields: Any) -> str:
    return json.dumps({"type": kind, "id": message_id, **fields}, separators=(",", ":"))


def job_message(message_id: str, encoded_event: str) -> str:
    """A job event as engine.events encoded it (valid JSON), wrapped without decoding it again."""
    return f'{{"type":"job","id":"{message_id}","event":{encoded_event}}}'


def notification_message(stream_id: str, notification: dict[str, Any]) -> str:
    fields = {k: v for k, v in notification.items() if k != "type"}
    return encode("notification", stream_id, notification=fields)


def text_frame(message: str) -> bytes:
    """`message` as one unmasked, uncompressed websocket text frame (RFC 6455 5.2), built once
    per message and written as is to every socket that gets it."""
    payload = message.encode()
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)  # FIN + text opcode, then the length
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload
