"""GET /health: 200 when Redis and PostgreSQL answer, 503 naming the part that does not."""

from __future__ import annotations

from aiohttp import web

from voicepipe.services import health
from voicepipe.web.api import Call


async def get_health(call: Call) -> web.Response:
    result = await health.check(call.resources)
    return web.json_response(result.report, status=200 if result.ok else 503)
