"""A user's webhook endpoints: register (URL vetted, secret shown once), list, delete, read the
deliveries, redeliver one. Everyone, admins included, reaches only their own endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel

from voicepipe.db import webhooks as webhooks_db
from voicepipe.db.users import UserRow
from voicepipe.db.webhooks import WebhookDelivery, WebhookEndpoint
from voicepipe.engine.registry import broker_for
from voicepipe.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from voicepipe.resources import Resources
from voicepipe.services.notifications import webhook_channel
from voicepipe.webhooks import new_secret, resolve_target

MAX_ENDPOINTS_PER_USER = 20


class CreatedEndpoint(WebhookEndpoint):
    """A new endpoint with its signing secret: the only time the secret is shown."""

    secret: str


class DeliveryPage(BaseModel):
    items: list[WebhookDelivery]
    next_cursor: str | None = None


class Redelivery(BaseModel):
    delivery_id: int
    msg_id: str
    job_id: str


def check_events(events: Sequence[str], is_admin: bool) -> list[str]:
    """The event filter, each name once; known types and patterns only, job events for admins."""
    known = (*webhook_channel.PATTERNS, *webhook_channel.NOTIFICATION_EVENTS,
             *webhook_channel.JOB_EVENTS)  # fmt: skip
    unknown = [e for e in events if e not in known]
    if unknown:
        raise InvalidInput(f"unknown webhook event {unknown[0]!r}; events are {', '.join(known)}")
    if not is_admin and any(e.startswith("job.") for e in events):
        raise PermissionDenied("job events are for admins; subscribe to notification.* instead")
    return list(dict.fromkeys(events)) or list(webhook_channel.DEFAULT_EVENTS)


async def create_endpoint(
    resources: Resources, owner: UserRow, url: str, events: Sequence[str] | None
) -> CreatedEndpoint:
    """Register an endpoint after the SSRF guard accepted its URL (it is checked again at every
    delivery: DNS can change)."""
    chosen = check_events(events or webhook_channel.DEFAULT_EVENTS, owner.role == "admin")
    await resolve_target(url, resources.settings.webhook_allow_private)
    if await webhooks_db.count_endpoints(resources.db, owner.id) >= MAX_ENDPOINTS_PER_USER:
        raise Conflict(f"you have {MAX_ENDPOINTS_PER_USER} webhook endpoints; delete one first")
    secret = new_secret()
    endpoint = await webhooks_db.create_endpoint(resources.db, owner.id, url, secret, chosen)
    webhook_channel.forget_subscribers(resources)
    return CreatedEndpoint(**endpoint.model_dump(), secret=secret)


async def list_endpoints(resources: Resources, owner_id: int) -> list[WebhookEndpoint]:
    return await webhooks_db.endpoints_of(resources.db, owner_id)


async def delete_endpoint(resources: Resources, owner_id: int, endpoint_id: int) -> None:
    if not await webhooks_db.delete_endpoint(resources.db, endpoint_id, owner_id):
        raise NotFound(f"no webhook endpoint with id {endpoint_id}")
    webhook_channel.forget_subscribers(resources)


async def own_endpoint(resources: Resources, owner_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await webhooks_db.endpoint_of(resources.db, endpoint_id, owner_id)
    if endpoint is None:
        raise NotFound(f"no webhook endpoint with id {endpoint_id}")
    return endpoint


async def list_deliveries(
    resources: Resources, owner_id: int, endpoint_id: int, limit: int, cursor: str | None
) -> DeliveryPage:
    """The endpoint's deliveries, newest first, each with every attempt at it."""
    await own_endpoint(resources, owner_id, endpoint_id)
    if cursor is not None and not cursor.isdigit():
        raise InvalidInput("the page cursor is not one this server gave out")
    before = int(cursor) if cursor is not None else None
    items = await webhooks_db.delivery_page(resources.db, endpoint_id, limit + 1, before)
    next_cursor = str(items[limit - 1].id) if len(items) > limit else None
    return DeliveryPage(items=items[:limit], next_cursor=next_cursor)


async def redeliver(
    resources: Resources, owner_id: int, endpoint_id: int, delivery_id: int
) -> Redelivery:
    """One more attempt at a delivered or failed delivery, with the same `webhook-id`, as a job.
    It is not retried on failure: that is what the schedule of the first attempts was for."""
    endpoint = await own_endpoint(resources, owner_id, endpoint_id)
    status = await webhooks_db.delivery_status(resources.db, endpoint_id, delivery_id)
    if status is None:
        raise NotFound(f"no delivery {delivery_id} of webhook endpoint {endpoint_id}")
    if not endpoint.active:
        raise Conflict(f"the webhook endpoint is disabled: {endpoint.disabled_reason}")
    job_id = await webhooks_db.plan_redelivery(resources.db, delivery_id, datetime.now(UTC))
    if job_id is None:
        raise Conflict(f"delivery {delivery_id} is still being attempted")
    spec = webhook_channel.delivery_spec(resources, delivery_id, job_id)
    # A crash before this line leaves it pending and due: the sweeper enqueues it.
    await broker_for(resources).enqueue([spec])
    target = await webhooks_db.target_of(resources.db, delivery_id)
    msg_id = target.msg_id if target is not None else ""
    return Redelivery(delivery_id=delivery_id, msg_id=msg_id, job_id=job_id)
