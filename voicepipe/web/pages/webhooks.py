"""The reader's webhook endpoints (GET /notifications/webhooks) and each one's delivery log
(GET /notifications/webhooks/{id}: every delivery with its attempts, newest first, paged), with
"Redeliver". Everyone, admins too, reaches only their own endpoints: another's is a 404 page."""

from __future__ import annotations

import asyncio

from aiohttp import web

from voicepipe import errors
from voicepipe.db.webhooks import WebhookEndpoint
from voicepipe.services.notifications import webhook_endpoints
from voicepipe.web.context import resources_of
from voicepipe.web.pages import actions
from voicepipe.web.pages.render import render_page, when
from voicepipe.web.pages.session import require_user

ROUTES = web.RouteTableDef()

DELIVERIES_PER_PAGE = 20  # each with its attempts


@ROUTES.get("/notifications/webhooks", name="webhooks")
async def endpoints(request: web.Request) -> web.Response:
    user = await require_user(request)
    found = await webhook_endpoints.list_endpoints(resources_of(request), user.id)
    return render_page(request, "webhooks.html", user, "notifications", {
        "live": "notification", "endpoints": found, "state": state,
    })  # fmt: skip


@ROUTES.get("/notifications/webhooks/{endpoint_id}", name="webhook")
async def endpoint(request: web.Request) -> web.Response:
    user = await require_user(request)
    endpoint_id = _id(request.match_info["endpoint_id"], "webhook endpoint")
    cursor = request.query.get("cursor") or None
    resources = resources_of(request)
    found, deliveries = await asyncio.gather(
        webhook_endpoints.own_endpoint(resources, user.id, endpoint_id),
        webhook_endpoints.list_deliveries(
            resources, user.id, endpoint_id, DELIVERIES_PER_PAGE, cursor
        ),
    )
    path = request.path
    return render_page(request, "webhook.html", user, "notifications", {
        "live": "job notification", "endpoint": found, "state": state,
        "deliveries": deliveries.items, "here": request.path_qs,
        "first_url": path, "on_first_page": cursor is None,
        "next_url": f"{path}?cursor={deliveries.next_cursor}" if deliveries.next_cursor else None,
    })  # fmt: skip


@ROUTES.post("/notifications/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(request: web.Request) -> web.Response:
    user = await require_user(request)
    form = await actions.posted(request)
    endpoint_id = _id(request.match_info["endpoint_id"], "webhook endpoint")
    delivery_id = _id(request.match_info["delivery_id"], "delivery")
    # their own endpoint or a 404 page, before anything is asked
    await webhook_endpoints.own_endpoint(resources_of(request), user.id, endpoint_id)
    back = f"/notifications/webhooks/{endpoint_id}"
    if not actions.confirmed(form):
        return actions.confirmation(
            request, user, form, question=f"Send delivery {delivery_id} again?", button="Redeliver",
            back=back, active="notifications",
            details=["The endpoint gets the same message, with the same webhook-id, once more."],
        )  # fmt: skip
    return await actions.run(back, _redeliver(request, user.id, endpoint_id, delivery_id))


async def _redeliver(
    request: web.Request, owner_id: int, endpoint_id: int, delivery_id: int
) -> str:
    resources = resources_of(request)
    done = await webhook_endpoints.redeliver(resources, owner_id, endpoint_id, delivery_id)
    return f"Delivery {delivery_id} is queued again (message {done.msg_id})."


def state(endpoint: WebhookEndpoint) -> tuple[str, str]:
    """The endpoint's state in words, and its CSS class: enabled, failing since…, disabled."""
    if not endpoint.active:
        reason = f": {endpoint.disabled_reason}" if endpoint.disabled_reason else ""
        return f"disabled{reason}", "state-disabled"
    if endpoint.failing_since is not None:
        return f"failing since {when(endpoint.failing_since)} UTC", "state-failing"
    return "enabled", "state-enabled"


def _id(text: str, what: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise errors.NotFound(f"no {what} with id {text}")
    return int(text)
