"""A browser's push subscription as `PushSubscription.toJSON()` gives it, checked before it is kept."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from voicepipe.errors import Unprocessable
from voicepipe.push.vapid import b64url_decode
from voicepipe.webhooks.target import why_not_public

MAX_ENDPOINT_CHARS = 2048
P256DH_BYTES = 65  # an uncompressed P-256 point: 0x04, x, y
AUTH_BYTES = 16


class PushSubscriptionInvalid(Unprocessable):
    """The subscription's endpoint or keys are not what a browser gives."""


@dataclass(frozen=True)
class SubscriptionKeys:
    """Where to send (the push service's endpoint) and what to encrypt for (the browser's
    ECDH public key `p256dh` and 16-byte `auth` secret, both URL-safe base64)."""

    endpoint: str
    p256dh: str
    auth: str


def check_endpoint(endpoint: str, allow_private: bool) -> str:
    """`endpoint` if it is an https URL (http too, and private addresses, with `allow_private`)."""
    if len(endpoint) > MAX_ENDPOINT_CHARS:
        raise PushSubscriptionInvalid(f"endpoint: longer than {MAX_ENDPOINT_CHARS} characters")
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as exc:
        raise PushSubscriptionInvalid(f"endpoint: not a URL ({exc})") from exc
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise PushSubscriptionInvalid("endpoint: a push service endpoint is an https URL")
    if not host or parts.username is not None or parts.password is not None:
        raise PushSubscriptionInvalid("endpoint: needs a host and no credentials")
    if not allow_private:
        try:
            reason = why_not_public(ipaddress.ip_address(host))
        except ValueError:
            reason = None  # a name: the sender vets what it resolves to
        if reason is not None:
            raise PushSubscriptionInvalid(f"endpoint: {host} is {reason}")
    return endpoint


def check_keys(p256dh: str, auth: str) -> None:
    """The browser's keys: a valid P-256 public point and a 16-byte secret."""
    try:
        point = b64url_decode(p256dh)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise PushSubscriptionInvalid(
            f"keys.p256dh: not a P-256 public key in URL-safe base64 ({P256DH_BYTES} bytes)"
        ) from exc
    if len(point) != P256DH_BYTES:
        raise PushSubscriptionInvalid(f"keys.p256dh: {len(point)} bytes, not {P256DH_BYTES}")
    try:
        secret = b64url_decode(auth)
    except ValueError as exc:
        raise PushSubscriptionInvalid("keys.auth: not URL-safe base64") from exc
    if len(secret) != AUTH_BYTES:
        raise PushSubscriptionInvalid(f"keys.auth: {len(secret)} bytes, not {AUTH_BYTES}")


def check_subscription(
    endpoint: str, p256dh: str, auth: str, allow_private: bool
) -> SubscriptionKeys:
    check_keys(p256dh, auth)
    return SubscriptionKeys(check_endpoint(endpoint, allow_private), p256dh, auth)
