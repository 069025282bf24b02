"""The admin pages: server-rendered with aiohttp-jinja2 from templates/, static files from
templates/static/, each page module's routes added here (pages sit apart from the JSON API)."""

from __future__ import annotations

from types import ModuleType

import aiohttp_jinja2
import jinja2
from aiohttp import web

from voicepipe.paths import templates_dir


def page_modules() -> list[ModuleType]:
    """Every module with page routes (each has a `ROUTES` table)."""
    from voicepipe.web.pages import login, overview

    modules: list[ModuleType] = [login, overview]
    from voicepipe.web.pages import job_detail, jobs

    modules += [jobs, job_detail]
    from voicepipe.web.pages import queues, scheduled, workers

    modules += [queues, workers, scheduled]
    from voicepipe.web.pages import failed

    modules += [failed]
    from voicepipe.web.pages import notifications, webhooks

    modules += [notifications, webhooks]
    from voicepipe.web.pages import recordings

    modules += [recordings]
    return modules


def setup_pages(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    app.router.add_static("/static/", templates_dir() / "static", name="static")
    for module in page_modules():
        app.router.add_routes(module.ROUTES)
