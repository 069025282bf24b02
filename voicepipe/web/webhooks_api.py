"""Handlers of the webhook endpoints: a caller sees and changes only their own endpoints."""

from __future__ import annotations

from voicepipe import errors
from voicepipe.services.notifications import webhook_endpoints
from voicepipe.web.api import Call
from voicepipe.web.models_webhooks import (
    CreatedEndpoint,
    DeliveryPage,
    DeliveryQuery,
    Redelivery,
    WebhookCreate,
    WebhookDeleted,
    WebhookList,
)


def _id(call: Call, name: str, what: str) -> int:
    text = call.path[name]
    if not text.isdigit() or len(text) > 18:
        raise errors.NotFound(f"no {what} with id {text}")
    return int(text)


async def create_webhook(call: Call) -> CreatedEndpoint:
    body: WebhookCreate = call.body
    return await webhook_endpoints.create_endpoint(
        call.resources, call.caller, body.url, body.events
    )


async def list_webhooks(call: Call) -> WebhookList:
    return WebhookList(items=await webhook_endpoints.list_endpoints(call.resources, call.caller.id))


async def delete_webhook(call: Call) -> WebhookDeleted:
    endpoint_id = _id(call, "webhook_id", "webhook endpoint")
    await webhook_endpoints.delete_endpoint(call.resources, call.caller.id, endpoint_id)
    return WebhookDeleted(id=endpoint_id)


async def list_deliveries(call: Call) -> DeliveryPage:
    query: DeliveryQuery = call.query
    endpoint_id = _id(call, "webhook_id", "webhook endpoint")
    return await webhook_endpoints.list_deliveries(
        call.resources, call.caller.id, endpoint_id, query.limit, query.cursor
    )


async def redeliver(call: Call) -> Redelivery:
    endpoint_id = _id(call, "webhook_id", "webhook endpoint")
    delivery_id = _id(call, "delivery_id", "delivery")
    return await webhook_endpoints.redeliver(
        call.resources, call.caller.id, endpoint_id, delivery_id
    )
