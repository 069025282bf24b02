"""GET /health: 200 when Redis and PostgreSQL answer, 503 naming the part that does not."""

from __future__ import annotations

from aiohttp import web

from voicepipe.services import health
from voicepipe.web.context import resources_of


async def get_health(request: web.Request) -> web.Response:
    result = await health.check(resources_of(request))
    return web.json_response(result.report, status=200 if result.ok else 503)
