"""Typed access to what the app holds (aiohttp AppKeys)."""

from __future__ import annotations

from aiohttp import web

from voicepipe.resources import Resources
from voicepipe.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
RESOURCES = web.AppKey("resources", Resources)


def resources_of(request: web.Request) -> Resources:
    return request.app[RESOURCES]
