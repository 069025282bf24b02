"""The aiohttp application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

import voicepipe.tasks  # noqa: F401  (registers every task so the API can enqueue them)
from voicepipe.resources import open_resources
from voicepipe.settings import Settings
from voicepipe.web.context import RESOURCES, SETTINGS
from voicepipe.web.middleware import json_errors
from voicepipe.web.routes import setup_routes


async def _resources_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_resources(app[SETTINGS]) as resources:
        app[RESOURCES] = resources
        yield


def init_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=64 * 1024**2)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_resources_ctx)
    setup_routes(app)
    return app
