"""Web push subscriptions: the VAPID public key browsers subscribe with, and each user's
subscriptions (one per browser)."""

from __future__ import annotations

from datetime import UTC, datetime

from voicepipe.db import push as push_db
from voicepipe.db.push import PushSubscription
from voicepipe.errors import NotFound
from voicepipe.push import VapidKeys, check_subscription, new_keys
from voicepipe.resources import Resources

# expirationTime is epoch milliseconds; past this it is not a date a browser would give
LATEST_EXPIRY_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z


async def vapid_keys(resources: Resources) -> VapidKeys:
    """The installation's VAPID key pair, made at first use and shared through PostgreSQL by
    every web and worker process (a browser's subscription is tied to the public key)."""
    stored = await push_db.stored_vapid_keys(resources.db)
    if stored is None:
        fresh = new_keys()
        stored = await push_db.vapid_keys(resources.db, fresh.private_pem, fresh.public_key)
    return VapidKeys(private_pem=stored[0], public_key=stored[1])


async def subscribe(
    resources: Resources, user_id: int, endpoint: str, p256dh: str, auth: str,
    expiration_time_ms: float | None = None,
) -> PushSubscription:  # fmt: skip
    """Keep a browser's subscription for `user_id`. The same endpoint again updates it; an
    endpoint another user had moves to this one (a browser shared by two accounts)."""
    keys = check_subscription(endpoint, p256dh, auth, resources.settings.webhook_allow_private)
    expires_at = None
    if expiration_time_ms is not None:
        clamped = min(max(expiration_time_ms, 0), LATEST_EXPIRY_MS)
        expires_at = datetime.fromtimestamp(clamped / 1000, UTC)
    async with resources.db.acquire() as conn:
        return await push_db.save_subscription(
            conn, user_id, keys.endpoint, keys.p256dh, keys.auth, expires_at
        )


async def list_subscriptions(resources: Resources, user_id: int) -> list[PushSubscription]:
    return await push_db.subscriptions_of(resources.db, user_id)


async def unsubscribe(resources: Resources, user_id: int, subscription_id: int) -> None:
    """Forget one of the user's subscriptions; NotFound if it is not theirs."""
    if not await push_db.delete_subscription(resources.db, subscription_id, user_id):
        raise NotFound(f"no push subscription with id {subscription_id}")
