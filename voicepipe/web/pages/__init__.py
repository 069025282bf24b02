"""The admin pages: server-rendered with aiohttp-jinja2 from templates/, static files from
templates/static/, each page module's routes added here (pages sit apart from the JSON API)."""

from __future__ import annotations

import aiohttp_jinja2
import jinja2
from aiohttp import web

from voicepipe.paths import templates_dir
from voicepipe.web.pages import login, overview


def setup_pages(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    app.router.add_static("/static/", templates_dir() / "static", name="static")
    for module in (login, overview):
        app.router.add_routes(module.ROUTES)
