"""Standard Webhooks signing (standardwebhooks.com): secrets, the three headers, the JSON payload."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from voicepipe.errors import InvalidInput

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec allows 24 to 64; 32 is what its reference libraries generate


class WebhookSecretInvalid(InvalidInput):
    """A webhook secret is not `whsec_` followed by base64 of 24 to 64 bytes."""


def new_secret() -> str:
    """A fresh signing secret, `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise WebhookSecretInvalid(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as exc:
        raise WebhookSecretInvalid(f"a webhook secret is base64 after {SECRET_PREFIX!r}") from exc
    if not 24 <= len(key) <= 64:
        raise WebhookSecretInvalid(f"a webhook secret holds 24 to 64 bytes, not {len(key)}")
    return key


def sign(secret: str, msg_id: str, timestamp_s: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`."""
    signed = b"%s.%d.%s" % (msg_id.encode(), timestamp_s, body)
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    """Every header a Standard Webhooks request carries, signature included."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": sign(secret, msg_id, timestamp_s, body),
        "content-type": "application/json",
    }


def payload(type_: str, data: dict[str, Any], timestamp: datetime) -> bytes:
    """The body: compact JSON `{"type", "timestamp" (ISO 8601 UTC), "data"}`."""
    if timestamp.tzinfo is None:
        raise ValueError("a webhook payload timestamp must be timezone-aware")
    iso = timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
    document = {"type": type_, "timestamp": iso, "data": data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
