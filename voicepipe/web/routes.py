"""The URL table: every route of the web process, in one place."""

from __future__ import annotations

from aiohttp import web

from voicepipe.web import health


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/health", health.get_health, name="health")
