"""Handlers and models of the web push endpoints: the VAPID public key, and a caller's own
browser subscriptions."""

from __future__ import annotations

from pydantic import BaseModel, Field

from voicepipe import errors
from voicepipe.db.push import PushSubscription
from voicepipe.services.notifications import push_subscriptions
from voicepipe.web.api import Call


class VapidPublicKey(BaseModel):
    public_key: str = Field(
        description="applicationServerKey for PushManager.subscribe(): URL-safe base64 of the "
        "uncompressed P-256 point"
    )


class SubscriptionKeysIn(BaseModel):
    p256dh: str = Field(max_length=200, description="the browser's P-256 ECDH key, URL-safe base64")
    auth: str = Field(
        max_length=100, description="the browser's 16-byte auth secret, URL-safe base64"
    )


class SubscriptionIn(BaseModel):
    """What `PushSubscription.toJSON()` gives in the browser."""

    endpoint: str = Field(max_length=2048, description="the push service URL (https)")
    expirationTime: float | None = Field(  # the browser's name for it
        default=None, description="when the subscription expires, epoch milliseconds"
    )
    keys: SubscriptionKeysIn


class PushSubscriptions(BaseModel):
    items: list[PushSubscription]


class PushSubscriptionDeleted(BaseModel):
    id: int
    deleted: bool = True


async def vapid_public_key(call: Call) -> VapidPublicKey:
    keys = await push_subscriptions.vapid_keys(call.resources)
    return VapidPublicKey(public_key=keys.public_key)


async def subscribe_push(call: Call) -> PushSubscription:
    body: SubscriptionIn = call.body
    return await push_subscriptions.subscribe(
        call.resources, call.caller.id, body.endpoint, body.keys.p256dh, body.keys.auth,
        body.expirationTime,
    )  # fmt: skip


async def list_push_subscriptions(call: Call) -> PushSubscriptions:
    items = await push_subscriptions.list_subscriptions(call.resources, call.caller.id)
    return PushSubscriptions(items=items)


async def delete_push_subscription(call: Call) -> PushSubscriptionDeleted:
    text = call.path["subscription_id"]
    if not text.isdigit() or len(text) > 18:
        raise errors.NotFound(f"no push subscription with id {text}")
    await push_subscriptions.unsubscribe(call.resources, call.caller.id, int(text))
    return PushSubscriptionDeleted(id=int(text))
