"""GET /metrics: Prometheus text format; public unless VOICEPIPE_METRICS_TOKEN is set."""

from __future__ import annotations

import secrets

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from voicepipe import errors
from voicepipe.history import metrics as metrics_service
from voicepipe.web.api import Call


async def metrics(call: Call) -> web.Response:
    expected = call.resources.settings.metrics_token
    if expected is not None:
        given = call.request_token or ""
        if not secrets.compare_digest(given.encode(), expected.encode()):
            raise errors.NotAuthenticated(
                "/metrics needs `Authorization: Bearer <VOICEPIPE_METRICS_TOKEN>`"
            )
    body = await metrics_service.render(call.resources)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
