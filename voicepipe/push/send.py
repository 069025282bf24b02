"""Sending one push (RFC 8030): encrypted with pywebpush (aes128gcm, RFC 8291), signed with VAPID,
posted with aiohttp to the vetted address of the push service."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from py_vapid import VapidException  # type: ignore[import-untyped]
from pywebpush import WebPusher  # type: ignore[import-untyped]

from voicepipe.errors import VoicepipeError
from voicepipe.push.payload import Urgency
from voicepipe.push.subscription import SubscriptionKeys
from voicepipe.push.vapid import VapidKeys, authorization
from voicepipe.webhooks.send import parse_retry_after
from voicepipe.webhooks.target import WebhookHostUnresolved, WebhookTargetRefused, resolve_target

ANSWER_CHARS = 200


class PushError(VoicepipeError):
    """The push was not accepted. `transient`: the same push may go through later (429, 5xx, no
    connection, a timeout); otherwise (another 4xx, a refused endpoint) retrying cannot help.
    `retry_after_s`: how long the push service asked us to wait, if it said."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.retry_after_s = retry_after_s


class SubscriptionGone(PushError):
    """404 or 410: the browser unsubscribed or the subscription expired; forget it."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, transient=False, status=status)


@dataclass(frozen=True)
class Push:
    """One message for one subscription, and how the push service should treat it."""

    payload: bytes
    ttl_s: int  # how long the push service keeps it for a browser that is offline
    urgency: Urgency
    topic: str | None = None  # a newer push with the same topic replaces an undelivered one


def encrypt(subscription: SubscriptionKeys, payload: bytes) -> bytes:
    """The aes128gcm body: `payload` encrypted for the browser's p256dh key and auth secret."""
    info = {"endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}  # fmt: skip
    body: bytes = WebPusher(info).encode(payload, "aes128gcm")["body"]
    return body


def headers_for(push: Push, authorization_header: str) -> dict[str, str]:
    headers = {
        "Authorization": authorization_header,
        "TTL": str(push.ttl_s),
        "Urgency": push.urgency,
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
    }
    if push.topic is not None:
        headers["Topic"] = push.topic
    return headers


async def send_push(
    session: aiohttp.ClientSession,
    subscription: SubscriptionKeys,
    push: Push,
    vapid: VapidKeys,
    subject: str,
    allow_private: bool,
    timeout_s: float = 15,
) -> int:
    """Send `push` to `subscription`; returns the push service's 2xx status, raises PushError.

    The endpoint is resolved once by the SSRF guard (an endpoint is a URL a user gave us) and
    the request goes to the vetted address, the name kept for Host and TLS; redirects are not
    followed.
    """
    endpoint = subscription.endpoint
    try:
        async with asyncio.timeout(timeout_s):
            target = await resolve_target(endpoint, allow_private)
    except WebhookTargetRefused as exc:
        raise PushError(f"refusing the push endpoint: {exc}", transient=False) from exc
    except (WebhookHostUnresolved, TimeoutError) as exc:
        raise PushError(f"cannot resolve the push service: {exc}", transient=True) from exc
    try:
        signed = authorization(vapid, endpoint, subject)
    except VapidException as exc:  # a VOICEPIPE_VAPID_SUBJECT that is no mailto: or https: URL
        raise PushError(f"cannot sign the push: {exc}", transient=False) from exc
    body = encrypt(subscription, push.payload)
    try:
        async with target.post(session, body, headers_for(push, signed), timeout_s) as response:
            status = response.status
            answer = (await response.text(errors="replace"))[:ANSWER_CHARS]
            retry_after_s = parse_retry_after(response.headers.get("Retry-After"))
    except TimeoutError as exc:
        raise PushError(
            f"the push service did not answer in {timeout_s:g} s", transient=True
        ) from exc
    except aiohttp.ClientError as exc:
        raise PushError(f"cannot reach the push service: {type(exc).__name__}: {exc}",
                        transient=True) from exc  # fmt: skip
    if 200 <= status < 300:
        return status
    said = f"the push service answered {status}" + (f": {answer}" if answer else "")
    if status in (404, 410):
        raise SubscriptionGone(said, status)
    transient = status == 429 or status >= 500
    raise PushError(said, transient=transient, status=status, retry_after_s=retry_after_s)
