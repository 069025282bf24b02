"""A local push service for tests, strict like a real one: it checks the VAPID signature and
claims, TTL and the content encoding, decrypts each push with the browser's keys, records what it
got, and answers 201, or a status the test asked for.

`Browser` is the other side, made as a browser makes it: a P-256 key pair and a 16-byte auth
secret, subscribed with the application server key it was given.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import http_ece  # type: ignore[import-untyped]
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

MAX_BODY_BYTES = 4096
MAX_TOKEN_LIFETIME_S = 86_400
URGENCIES = ("very-low", "low", "normal", "high")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """One browser's subscription: its keys, its endpoint, and the server key it trusts."""

    endpoint: str
    application_server_key: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    @property
    def token(self) -> str:
        return self.endpoint.rsplit("/", 1)[1]

    def to_json(self) -> dict[str, Any]:
        """What `PushSubscription.toJSON()` gives."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)},
        }


@dataclass(frozen=True)
class Received:
    """One push the service accepted (201), decrypted."""

    token: str
    payload: dict[str, Any]
    plaintext_bytes: int
    body_bytes: int
    ttl: int
    urgency: str | None
    topic: str | None
    claims: dict[str, Any]


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class PushService:
    """An aiohttp push service on 127.0.0.1. `received`: accepted pushes in order; `answered`:
    the status of every request per browser token (refusals of bad requests included)."""

    def __init__(self) -> None:
        self.browsers: dict[str, Browser] = {}
        self.received: list[Received] = []
        self.answered: dict[str, list[int]] = defaultdict(list)
        self.refusals: list[str] = []
        self._answers: dict[str, list[int]] = defaultdict(list)
        self._runner: web.AppRunner | None = None
        self.origin = ""

    async def start(self) -> PushService:
        app = web.Application()
        app.router.add_post("/push/{token}", self._push)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.origin = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def browser(self, application_server_key: str) -> Browser:
        """A new browser subscribed at this service with the given server key."""
        browser = Browser(f"{self.origin}/push/{secrets.token_urlsafe(12)}", application_server_key)
        self.browsers[browser.token] = browser
        return browser

    def answer(self, browser: Browser, *statuses: int) -> None:
        """Answer the browser's next pushes with `statuses`, then 201 again."""
        self._answers[browser.token].extend(statuses)

    def received_by(self, browser: Browser) -> list[Received]:
        return [r for r in self.received if r.token == browser.token]

    async def _push(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        body = await request.read()
        try:
            browser = self.browsers.get(token)
            if browser is None:
                raise Refused(404, "no such subscription")
            received = self._check(request, browser, body)
        except Refused as refused:
            self.refusals.append(str(refused))
            self.answered[token].append(refused.status)
            return web.Response(status=refused.status, text=str(refused))
        queued = self._answers[token]
        status = queued.pop(0) if queued else 201
        self.answered[token].append(status)
        if status == 201:
            self.received.append(received)
            return web.Response(status=201, headers={"Location": f"{self.origin}/message/1"})
        return web.Response(status=status, text=f"told to answer {status}")

    def _check(self, request: web.Request, browser: Browser, body: bytes) -> Received:
        claims = self._check_vapid(request.headers.get("Authorization", ""), browser)
        ttl = request.headers.get("TTL")
        if ttl is None or not ttl.isdigit():
            raise Refused(400, "TTL header missing or not a number")
        if request.headers.get("Content-Encoding") != "aes128gcm":
            raise Refused(415, "Content-Encoding must be aes128gcm")
        if len(body) > MAX_BODY_BYTES:
            raise Refused(413, f"body of {len(body)} bytes is over {MAX_BODY_BYTES}")
        urgency = request.headers.get("Urgency")
        if urgency is not None and urgency not in URGENCIES:
            raise Refused(400, f"bad Urgency {urgency!r}")
        topic = request.headers.get("Topic")
        if topic is not None and (len(topic) > 32 or not _url_safe(topic)):
            raise Refused(400, f"bad Topic {topic!r}")
        try:
            plaintext = http_ece.decrypt(
                body, private_key=browser.private_key, auth_secret=browser.auth,
                version="aes128gcm",
            )  # fmt: skip
        except Exception as exc:  # http_ece raises several kinds for a body it cannot open
            raise Refused(400, f"cannot decrypt: {exc!r}") from exc
        return Received(
            token=browser.token, payload=json.loads(plaintext), plaintext_bytes=len(plaintext),
            body_bytes=len(body), ttl=int(ttl), urgency=urgency, topic=topic, claims=claims,
        )  # fmt: skip

    def _check_vapid(self, header: str, browser: Browser) -> dict[str, Any]:
        """RFC 8292: `vapid t=<JWT>, k=<key>`; ES256 valid for k, k the subscription's key."""
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "vapid":
            raise Refused(401, f"Authorization is not vapid: {header[:30]!r}")
        params = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
        token, key = params.get("t", ""), params.get("k", "")
        if key != browser.application_server_key:
            raise Refused(403, "k is not the key the subscription was made with")
        try:
            signing_input, _, signature = token.rpartition(".")
            header_part, _, claims_part = signing_input.partition(".")
            if json.loads(b64url_decode(header_part)).get("alg") != "ES256":
                raise Refused(401, "the JWT is not ES256")
            raw = b64url_decode(signature)
            der = utils.encode_dss_signature(
                int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            )
            public = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), b64url_decode(key)
            )
            public.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
            claims: dict[str, Any] = json.loads(b64url_decode(claims_part))
        except (ValueError, InvalidSignature) as exc:
            raise Refused(401, f"bad VAPID token: {exc!r}") from exc
        now = time.time()
        if claims.get("aud") != self.origin:
            raise Refused(403, f"aud {claims.get('aud')!r} is not {self.origin!r}")
        if not now < claims.get("exp", 0) <= now + MAX_TOKEN_LIFETIME_S:
            raise Refused(403, "exp is not within the next 24 hours")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise Refused(403, "sub is missing")
        return claims


def _url_safe(text: str) -> bool:
    return all(c.isascii() and (c.isalnum() or c in "-_") for c in text)
