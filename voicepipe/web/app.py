"""The aiohttp application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from aiohttp import web

import voicepipe.tasks  # noqa: F401  (registers every task so the API can enqueue them)
from voicepipe.resources import open_resources
from voicepipe.services.notifications.alerts import run_alerts
from voicepipe.settings import Settings
from voicepipe.web.context import RESOURCES, SETTINGS
from voicepipe.web.middleware import json_errors
from voicepipe.web.pages import setup_pages
from voicepipe.web.pages.security import page_security
from voicepipe.web.routes import setup_routes
from voicepipe.web.ws.handler import feed
from voicepipe.web.ws.hub import HUB, FeedOptions, Hub

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


async def _resources_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_resources(app[SETTINGS]) as resources:
        app[RESOURCES] = resources
        yield


def _feed_ctx(options: FeedOptions) -> CleanupContext:
    """The websocket hub: one Redis reader for this process's sockets, closed with the app."""

    async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
        hub = app[HUB] = Hub(app[RESOURCES], options)
        await hub.start()
        yield
        await hub.stop()

    return hub_ctx


async def _alerts_ctx(app: web.Application) -> AsyncIterator[None]:
    """The alert rules, evaluated here too: rule "no worker" must work while no worker is alive."""
    stop = asyncio.Event()
    alerting = asyncio.create_task(run_alerts(app[RESOURCES], stop), name="alerts")
    yield
    stop.set()
    await asyncio.gather(alerting, return_exceptions=True)


async def _close_feed(app: web.Application) -> None:
    await app[HUB].close_sockets()


def init_app(settings: Settings, feed_options: FeedOptions | None = None) -> web.Application:
    app = web.Application(middlewares=[json_errors, page_security], client_max_size=64 * 1024**2)
    app[SETTINGS] = settings
    # background loops, in order: each one's resources are open before it starts
    app.cleanup_ctx.append(_resources_ctx)
    app.cleanup_ctx.append(_feed_ctx(feed_options or FeedOptions()))
    app.cleanup_ctx.append(_alerts_ctx)
    app.on_shutdown.append(_close_feed)  # sockets hear 1001 before their handlers are cancelled
    setup_routes(app)
    setup_pages(app)
    app.router.add_get("/ws", feed)  # the live feed (not a JSON route: see voicepipe.web.ws)
    return app
