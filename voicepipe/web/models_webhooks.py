"""Request and response models of the webhook endpoints API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from voicepipe.db.webhooks import WebhookEndpoint
from voicepipe.services.notifications.webhook_endpoints import (
    CreatedEndpoint,
    DeliveryPage,
    Redelivery,
)
from voicepipe.web.models import PageQuery, Text

__all__ = ["CreatedEndpoint", "DeliveryPage", "DeliveryQuery", "Redelivery", "WebhookCreate",
           "WebhookDeleted", "WebhookList"]  # fmt: skip


class WebhookCreate(BaseModel):
    """Register an endpoint; `events` defaults to `["notification.*"]` (your notifications)."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[Text, Field(min_length=1, max_length=2000)] = Field(
        description="http(s) URL of a public address"
    )
    events: list[Annotated[Text, Field(max_length=100)]] | None = Field(
        default=None,
        max_length=20,
        description="event types or patterns: notification.*, notification.<level>, and for "
        "admins job.*, job.success, job.failure; * is all",
    )


class WebhookList(BaseModel):
    items: list[WebhookEndpoint]


class WebhookDeleted(BaseModel):
    id: int
    deleted: bool = True


class DeliveryQuery(PageQuery):
    pass
