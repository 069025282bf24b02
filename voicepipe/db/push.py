"""SQL for web push: the shared VAPID key pair, subscriptions, and deliveries."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from pydantic import BaseModel

from voicepipe.db.notifications import Conn


class PushSubscription(BaseModel):
    """One browser's push subscription, as its owner sees it (the keys are not shown)."""

    id: int
    endpoint: str
    expires_at: datetime | None
    created_at: datetime


class PendingPush(BaseModel):
    """What one delivery needs: the subscription's keys and the notification it carries."""

    delivery_id: int
    status: str
    attempts: int
    subscription_id: int
    endpoint: str
    p256dh: str
    auth: str
    notification_id: int
    title: str
    message: str
    level: str
    job_id: str | None


_SUBSCRIPTION = "id, endpoint, expires_at, created_at"


async def vapid_keys(conn: Conn, private_pem: str, public_key: str) -> tuple[str, str]:
    """The stored key pair (private PEM, public key); the given one is stored first if there is
    none, so concurrent first calls in several processes all end up with the same pair."""
    await conn.execute(
        """INSERT INTO vapid_keys (private_pem, public_key) VALUES ($1, $2)
           ON CONFLICT (singleton) DO NOTHING""",
        private_pem, public_key,
    )  # fmt: skip
    row = await conn.fetchrow("SELECT private_pem, public_key FROM vapid_keys")
    assert row is not None  # inserted above, and never deleted
    return row["private_pem"], row["public_key"]


async def stored_vapid_keys(conn: Conn) -> tuple[str, str] | None:
    row = await conn.fetchrow("SELECT private_pem, public_key FROM vapid_keys")
    return None if row is None else (row["private_pem"], row["public_key"])


async def save_subscription(
    conn: asyncpg.Connection, user_id: int, endpoint: str, p256dh: str, auth: str,
    expires_at: datetime | None,
) -> PushSubscription:  # fmt: skip
    """Keep `endpoint` for `user_id`: the same user's row is updated in place; another user's is
    deleted first (with its pending deliveries, meant for that user) and a new one made."""
    async with conn.transaction():
        await conn.execute(
            "DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id <> $2",
            endpoint, user_id,
        )  # fmt: skip
        row = await conn.fetchrow(
            f"""INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, expires_at)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (endpoint) DO UPDATE SET p256dh = excluded.p256dh,
                    auth = excluded.auth, expires_at = excluded.expires_at
                RETURNING {_SUBSCRIPTION}""",
            user_id, endpoint, p256dh, auth, expires_at,
        )  # fmt: skip
    return PushSubscription.model_validate(dict(row))


async def subscriptions_of(conn: Conn, user_id: int) -> list[PushSubscription]:
    rows = await conn.fetch(
        f"SELECT {_SUBSCRIPTION} FROM push_subscriptions WHERE user_id = $1 ORDER BY id",
        user_id,
    )
    return [PushSubscription.model_validate(dict(row)) for row in rows]


async def delete_subscription(conn: Conn, subscription_id: int, user_id: int | None) -> bool:
    """Delete one subscription (only if it is `user_id`'s, unless None); False if none was."""
    result: str = await conn.execute(
        "DELETE FROM push_subscriptions WHERE id = $1 AND ($2::bigint IS NULL OR user_id = $2)",
        subscription_id, user_id,
    )  # fmt: skip
    return result == "DELETE 1"


async def plan_deliveries(conn: Conn, notification_ids: list[int]) -> list[int]:
    """One pending delivery per notification and live subscription of its recipient (a second
    call for the same notifications adds none); returns the ids of those made."""
    rows = await conn.fetch(
        """INSERT INTO push_deliveries (notification_id, subscription_id)
           SELECT n.id, s.id FROM notifications n
           JOIN push_subscriptions s ON s.user_id = n.recipient_id
           WHERE n.id = ANY($1::bigint[]) AND (s.expires_at IS NULL OR s.expires_at > now())
           ORDER BY n.id, s.id
           ON CONFLICT (notification_id, subscription_id) DO NOTHING
           RETURNING id""",
        notification_ids,
    )
    return [row["id"] for row in rows]


async def pending_push(conn: Conn, delivery_id: int) -> PendingPush | None:
    """The delivery, its subscription and its notification; None if the delivery is gone (its
    subscription was deleted) or the subscription is no longer the recipient's."""
    row = await conn.fetchrow(
        """SELECT d.id AS delivery_id, d.status, d.attempts, s.id AS subscription_id,
                  s.endpoint, s.p256dh, s.auth, n.id AS notification_id, n.title, n.message,
                  n.level, n.job_id
           FROM push_deliveries d
           JOIN push_subscriptions s ON s.id = d.subscription_id
           JOIN notifications n ON n.id = d.notification_id AND n.recipient_id = s.user_id
           WHERE d.id = $1""",
        delivery_id,
    )
    return None if row is None else PendingPush.model_validate(dict(row))


async def record_attempt(
    conn: Conn, delivery_id: int, status: str, status_code: int | None, error: str | None
) -> None:
    """Count one attempt; `status` 'delivered' or 'failed' ends the delivery."""
    await conn.execute(
        """UPDATE push_deliveries SET attempts = attempts + 1, status = $2,
               last_status_code = $3, last_error = $4,
               finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END
           WHERE id = $1""",
        delivery_id, status, status_code, error,
    )  # fmt: skip


async def stale_pending(conn: Conn, older_than_s: float, limit: int) -> list[int]:
    """Pending deliveries made more than `older_than_s` ago (their job may never have been
    queued: a crash between commit and enqueue), oldest first."""
    rows = await conn.fetch(
        """SELECT id FROM push_deliveries
           WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1)
           ORDER BY created_at LIMIT $2""",
        older_than_s, limit,
    )  # fmt: skip
    return [row["id"] for row in rows]


async def expire_pending(conn: Conn, older_than_s: float) -> int:
    """Fail pending deliveries older than `older_than_s` (past the push's TTL: too late to show)."""
    result: str = await conn.execute(
        """UPDATE push_deliveries SET status = 'failed', finished_at = now(),
               last_error = 'still undelivered when its time to live ran out'
           WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1)""",
        older_than_s,
    )
    return int(result.split()[-1])


async def delivery_statuses(conn: Conn, notification_id: int) -> dict[int, str]:
    """Each subscription's delivery status for one notification (for tests and inspection)."""
    rows = await conn.fetch(
        "SELECT subscription_id, status FROM push_deliveries WHERE notification_id = $1",
        notification_id,
    )
    return {row["subscription_id"]: row["status"] for row in rows}
