"""What one push carries: the JSON payload (under the size a push service takes), its urgency
and its topic."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Literal

Urgency = Literal["very-low", "low", "normal", "high"]

# One aes128gcm record of 4096 bytes, less its header (86 bytes with a P-256 key id), the
# AES-GCM tag (16) and the padding delimiter (1): the most plaintext every push service takes.
MAX_PAYLOAD_BYTES = 3993
ELLIPSIS = "…"
TOPIC_BYTES = 24  # base64 of 24 bytes is 32 characters, the most a Topic header may have

_URGENCY: dict[str, Urgency] = {
    "info": "low",
    "success": "low",
    "warning": "normal",
    "error": "high",
    "critical": "high",
}


def urgency_for(level: str) -> Urgency:
    """RFC 8030 Urgency: a phone on battery wakes up for high, may wait for low."""
    return _URGENCY[level]


def topic_for(key: str) -> str:
    """A Topic (32 URL-safe base64 characters) naming `key`, e.g. a job: a newer push with the
    same topic replaces one the push service has not delivered yet."""
    digest = hashlib.sha256(key.encode()).digest()[:TOPIC_BYTES]
    return base64.urlsafe_b64encode(digest).decode()


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _fitted(document: dict[str, Any], field: str, max_bytes: int) -> dict[str, Any]:
    """`document` with `field` cut (and an ellipsis added) to the longest prefix that fits."""
    text: str = document[field]
    low, high = 0, len(text)  # the longest prefix that fits is in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        if len(_encode({**document, field: text[:middle] + ELLIPSIS})) <= max_bytes:
            low = middle
        else:
            high = middle - 1
    return {**document, field: text[:low] + ELLIPSIS}


def build_payload(
    title: str,
    message: str,
    level: str,
    url: str,
    notification_id: int,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> bytes:
    """Compact UTF-8 JSON `{title, message, level, url, notification_id}` of at most
    `max_bytes`: a message (then a title) too long is cut at a character, ending in `…`."""
    document: dict[str, Any] = {
        "title": title, "message": message, "level": level, "url": url,
        "notification_id": notification_id,
    }  # fmt: skip
    for field in ("message", "title"):
        if len(_encode(document)) <= max_bytes:
            break
        document = _fitted(document, field, max_bytes)
    encoded = _encode(document)
    if len(encoded) > max_bytes:
        raise ValueError(f"a push payload cannot fit in {max_bytes} bytes, even with no text")
    return encoded
