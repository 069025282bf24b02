"""VAPID (RFC 8292): the server's P-256 key pair, and the Authorization header that signs a push."""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02  # type: ignore[import-untyped]

# RFC 8292 allows at most 24 h; 12 h (what pywebpush uses) leaves room for a skewed clock
TOKEN_LIFETIME_S = 12 * 3600
B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def b64url(raw: bytes) -> str:
    """URL-safe base64 without padding, the form Web Push uses for keys."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """The bytes of URL-safe base64 with or without padding; ValueError if it is not that."""
    if not B64URL.fullmatch(text):
        raise ValueError("not URL-safe base64")
    bare = text.rstrip("=")
    return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))


@dataclass(frozen=True)
class VapidKeys:
    """The application server's key pair: the private key as PKCS#8 PEM, the public key as
    browsers want it for `applicationServerKey` (URL-safe base64 of the 65-byte uncompressed
    point)."""

    private_pem: str
    public_key: str


def new_keys() -> VapidKeys:
    """A fresh P-256 key pair."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return VapidKeys(private_pem=pem, public_key=public_key_of(private_key))


def public_key_of(private_key: ec.EllipticCurvePrivateKey) -> str:
    point = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point)


def audience(endpoint: str) -> str:
    """The push service's origin (`aud` claim): scheme, host and port of the endpoint."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def authorization(keys: VapidKeys, endpoint: str, subject: str, now_s: float | None = None) -> str:
    """`vapid t=<JWT>, k=<public key>` for one push to `endpoint`, signed with `keys`."""
    now_s = time.time() if now_s is None else now_s
    vapid = Vapid02.from_pem(keys.private_pem.encode())
    claims = {"aud": audience(endpoint), "exp": int(now_s) + TOKEN_LIFETIME_S, "sub": subject}
    header: str = vapid.sign(claims)["Authorization"]
    return header
