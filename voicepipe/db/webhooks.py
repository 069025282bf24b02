"""SQL for webhooks: endpoints (owned, filtered by event), their deliveries and every attempt."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
from pydantic import BaseModel, Field

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

_ENDPOINT = """id, owner_id, url, events, active, created_at, disabled_at, disabled_reason,
    failing_since"""
_DELIVERY = """id, endpoint_id, event, msg_id, status, attempts AS attempt_count, created_at,
    delivered_at, next_attempt_at, last_status_code, last_error, redeliveries"""
_ATTEMPT = """id, job_id, worker, started_at, finished_at, outcome, status_code, latency_ms,
    answer, error"""


class WebhookEndpoint(BaseModel):
    """An endpoint as its owner sees it (never with its secret)."""

    id: int
    owner_id: int
    url: str
    events: list[str]
    active: bool
    created_at: datetime
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    failing_since: datetime | None = Field(
        default=None, description="since when every delivery has failed; null after a success"
    )


class WebhookAttempt(BaseModel):
    """One POST to the endpoint; `outcome` null: in flight."""

    id: int
    job_id: str
    worker: str | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None = Field(description="delivered, gone, retry or interrupted")
    status_code: int | None
    latency_ms: float | None
    answer: str | None = Field(description="the first 200 bytes of the answer")
    error: str | None


class WebhookDelivery(BaseModel):
    """One message to one endpoint, with every attempt at it, oldest first."""

    id: int
    endpoint_id: int
    event: str
    msg_id: str = Field(description="the webhook-id header of every attempt")
    status: str = Field(description="pending, delivered, failed or skipped (endpoint disabled)")
    attempt_count: int
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    redeliveries: int
    attempts: list[WebhookAttempt] = Field(default_factory=list)


class DeliveryTarget(BaseModel):
    """What one attempt needs: the delivery, its message, and where and how to sign it."""

    id: int
    endpoint_id: int
    event: str
    msg_id: str
    payload: dict[str, Any]
    created_at: datetime
    status: str
    next_job_id: str | None
    url: str
    secret: str
    active: bool
    owner_id: int | None


async def create_endpoint(
    conn: Conn, owner_id: int, url: str, secret: str, events: Sequence[str]
) -> WebhookEndpoint:
    row = await conn.fetchrow(
        f"""INSERT INTO webhook_endpoints (owner_id, url, secret, events) VALUES ($1, $2, $3, $4)
            RETURNING {_ENDPOINT}""",
        owner_id, url, secret, list(events),
    )  # fmt: skip
    return WebhookEndpoint.model_validate(dict(row))


async def count_endpoints(conn: Conn, owner_id: int) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM webhook_endpoints WHERE owner_id = $1", owner_id
    )
    return count


async def endpoints_of(conn: Conn, owner_id: int) -> list[WebhookEndpoint]:
    rows = await conn.fetch(
        f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE owner_id = $1 ORDER BY id", owner_id
    )
    return [WebhookEndpoint.model_validate(dict(row)) for row in rows]


async def endpoint_of(conn: Conn, endpoint_id: int, owner_id: int) -> WebhookEndpoint | None:
    row = await conn.fetchrow(
        f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE id = $1 AND owner_id = $2",
        endpoint_id, owner_id,
    )  # fmt: skip
    return WebhookEndpoint.model_validate(dict(row)) if row else None


async def delete_endpoint(conn: Conn, endpoint_id: int, owner_id: int) -> bool:
    """Delete the owner's endpoint and its deliveries; False if it is not theirs."""
    result: str = await conn.execute(
        "DELETE FROM webhook_endpoints WHERE id = $1 AND owner_id = $2", endpoint_id, owner_id
    )
    return result.endswith(" 1")


async def active_endpoints_of(
    conn: Conn, owner_ids: Collection[int]
) -> list[tuple[int, int, list[str]]]:
    """(id, owner, events) of the active endpoints of these users."""
    rows = await conn.fetch(
        """SELECT id, owner_id, events FROM webhook_endpoints
           WHERE owner_id = ANY ($1::bigint[]) AND active ORDER BY id""",
        list(owner_ids),
    )
    return [(row["id"], row["owner_id"], list(row["events"])) for row in rows]


async def admin_endpoints_for(conn: Conn, patterns: Sequence[str]) -> list[tuple[int, list[str]]]:
    """(id, events) of the admins' active endpoints whose events name any of `patterns`."""
    rows = await conn.fetch(
        """SELECT e.id, e.events FROM webhook_endpoints e JOIN users u ON u.id = e.owner_id
           WHERE e.active AND u.role = 'admin' AND e.events && $1::text[] ORDER BY e.id""",
        list(patterns),
    )
    return [(row["id"], list(row["events"])) for row in rows]


async def insert_deliveries(
    conn: Conn, rows: Sequence[tuple[int, int | None, str, dict[str, Any], str]]
) -> list[tuple[int, str]]:
    """Store deliveries (endpoint, notification, event, payload, dedupe key), each with the id of
    the job of its first attempt; one that exists already for its endpoint and dedupe key is
    skipped. Returns (delivery id, job id) of those stored."""
    if not rows:
        return []
    stored = await conn.fetch(
        """WITH new AS (
               SELECT nextval(pg_get_serial_sequence('webhook_deliveries', 'id')) AS id, t.*
               FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::jsonb[], $5::text[])
                   AS t (endpoint_id, notification_id, event, payload, dedupe_key))
           INSERT INTO webhook_deliveries (id, endpoint_id, notification_id, event, payload,
               dedupe_key, next_job_id, next_attempt_at)
           SELECT id, endpoint_id, notification_id, event, payload, dedupe_key,
               'webhook:' || id || ':1', now()
           FROM new
           ON CONFLICT (endpoint_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
           RETURNING id, next_job_id""",
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
        [r[4] for r in rows],
    )  # fmt: skip
    return [(row["id"], row["next_job_id"]) for row in stored]


async def delivery_page(
    conn: Conn, endpoint_id: int, limit: int, before_id: int | None
) -> list[WebhookDelivery]:
    """The endpoint's deliveries newest first (ids below `before_id`), each with its attempts."""
    rows = await conn.fetch(
        f"""SELECT {_DELIVERY} FROM webhook_deliveries
            WHERE endpoint_id = $1 AND ($3::bigint IS NULL OR id < $3)
            ORDER BY id DESC LIMIT $2""",
        endpoint_id, limit, before_id,
    )  # fmt: skip
    deliveries = [WebhookDelivery.model_validate(dict(row)) for row in rows]
    attempts = await conn.fetch(
        f"""SELECT delivery_id, {_ATTEMPT} FROM webhook_attempts
            WHERE delivery_id = ANY ($1::bigint[]) ORDER BY id""",
        [d.id for d in deliveries],
    )
    by_id = {d.id: d for d in deliveries}
    for row in attempts:
        by_id[row["delivery_id"]].attempts.append(WebhookAttempt.model_validate(dict(row)))
    return deliveries


async def delivery_status(conn: Conn, endpoint_id: int, delivery_id: int) -> str | None:
    status: str | None = await conn.fetchval(
        "SELECT status FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2",
        delivery_id, endpoint_id,
    )  # fmt: skip
    return status


async def plan_redelivery(conn: Conn, delivery_id: int, at: datetime) -> str | None:
    """Make the delivery pending again for one more attempt; its job id, None if it is pending."""
    job_id: str | None = await conn.fetchval(
        """UPDATE webhook_deliveries SET status = 'pending', redeliveries = redeliveries + 1,
               next_job_id = 'webhook:' || id || ':redeliver:' || (redeliveries + 1),
               next_attempt_at = $2
           WHERE id = $1 AND status <> 'pending' RETURNING next_job_id""",
        delivery_id, at,
    )  # fmt: skip
    return job_id


async def target_of(conn: Conn, delivery_id: int) -> DeliveryTarget | None:
    row = await conn.fetchrow(
        """SELECT d.id, d.endpoint_id, d.event, d.msg_id, d.payload, d.created_at, d.status,
               d.next_job_id, e.url, e.secret, e.active, e.owner_id
           FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
           WHERE d.id = $1""",
        delivery_id,
    )
    return DeliveryTarget.model_validate(dict(row)) if row else None


async def start_attempt(
    conn: Conn, delivery_id: int, job_id: str, worker: str, at: datetime
) -> int:
    """Log an attempt as started. An earlier one still without an outcome was cut off (its
    worker died mid-request; the job runs again): it is marked interrupted."""
    await conn.execute(
        """UPDATE webhook_attempts SET outcome = 'interrupted', finished_at = $2,
               error = 'no answer recorded: the worker making this attempt stopped'
           WHERE delivery_id = $1 AND outcome IS NULL""",
        delivery_id, at,
    )  # fmt: skip
    attempt_id: int = await conn.fetchval(
        """INSERT INTO webhook_attempts (delivery_id, job_id, worker, started_at)
           VALUES ($1, $2, $3, $4) RETURNING id""",
        delivery_id, job_id, worker, at,
    )  # fmt: skip
    return attempt_id


async def finish_attempt(
    conn: Conn, attempt_id: int, outcome: str, status_code: int | None, latency_ms: float,
    answer: str, error: str | None, at: datetime,
) -> None:  # fmt: skip
    await conn.execute(
        """UPDATE webhook_attempts SET outcome = $2, status_code = $3, latency_ms = $4,
               answer = $5, error = $6, finished_at = $7
           WHERE id = $1""",
        attempt_id, outcome, status_code, latency_ms, answer, error, at,
    )  # fmt: skip


async def record_outcome(
    conn: Conn, delivery_id: int, status: str, status_code: int | None, error: str | None,
    next_job_id: str | None, next_attempt_at: datetime | None, at: datetime,
) -> None:  # fmt: skip
    """One more attempt made: the delivery's new status and what (if anything) comes next."""
    await conn.execute(
        """UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1,
               last_status_code = $3, last_error = $4, next_job_id = $5, next_attempt_at = $6,
               delivered_at = CASE WHEN $2 = 'delivered' THEN $7 ELSE delivered_at END
           WHERE id = $1""",
        delivery_id, status, status_code, error, next_job_id, next_attempt_at, at,
    )  # fmt: skip


async def skip_delivery(conn: Conn, delivery_id: int) -> None:
    await conn.execute(
        """UPDATE webhook_deliveries SET status = 'skipped', next_job_id = NULL,
               next_attempt_at = NULL
           WHERE id = $1 AND status = 'pending'""",
        delivery_id,
    )


async def endpoint_succeeded(conn: Conn, endpoint_id: int) -> None:
    await conn.execute(
        "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1", endpoint_id
    )


async def endpoint_failed(conn: Conn, endpoint_id: int, at: datetime) -> datetime:
    """Note a failure; returns since when the endpoint has failed (this one if it is the first)."""
    since: datetime = await conn.fetchval(
        """UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2)
           WHERE id = $1 RETURNING failing_since""",
        endpoint_id, at,
    )  # fmt: skip
    return since


async def disable_endpoint(conn: Conn, endpoint_id: int, reason: str, at: datetime) -> bool:
    """Disable an active endpoint, its pending deliveries skipped; False if it was disabled
    already (so its owner is told once)."""
    result: str = await conn.execute(
        """UPDATE webhook_endpoints SET active = false, disabled_at = $3, disabled_reason = $2
           WHERE id = $1 AND active""",
        endpoint_id, reason, at,
    )  # fmt: skip
    if not result.endswith(" 1"):
        return False
    await conn.execute(
        """UPDATE webhook_deliveries SET status = 'skipped', next_job_id = NULL,
               next_attempt_at = NULL
           WHERE endpoint_id = $1 AND status = 'pending'""",
        endpoint_id,
    )
    return True


async def due_deliveries(conn: Conn, now: datetime, limit: int) -> list[tuple[int, str, datetime]]:
    """(id, job id, due time) of pending deliveries whose next attempt was due by `now`."""
    rows = await conn.fetch(
        """SELECT id, next_job_id, next_attempt_at FROM webhook_deliveries
           WHERE status = 'pending' AND next_attempt_at <= $1 AND next_job_id IS NOT NULL
           ORDER BY next_attempt_at LIMIT $2""",
        now, limit,
    )  # fmt: skip
    return [(row["id"], row["next_job_id"], row["next_attempt_at"]) for row in rows]
