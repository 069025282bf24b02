"""The pages' guard: every state-changing request to a page must come from this site and carry
the session's CSRF token; every page response gets the browser's safety headers; errors on pages
are HTML pages, not the API's JSON.

Page routes are every path but the API's (/api/…, /ws, /health, /metrics) and /static/. The
middleware sits inside `json_errors`, so on a page it turns an error into HTML before
`json_errors` could turn it into JSON; on the API's paths it does nothing.

Same origin: `Origin`, when present, must be this site's (VOICEPIPE_PUBLIC_URL, or the Host the
request was sent to); `Sec-Fetch-Site`, when present, must be `same-origin`. Browsers send at
least one of them with every POST, so a request with neither comes from a program, not from a
page a browser was tricked into: it is let through on the CSRF token alone (no cookie-riding
attack is possible without a browser). POST /login has no session and so no token yet: it is
guarded by the same-origin check only (and the cookie is SameSite=Lax).
"""

from __future__ import annotations

import contextlib
import html
import logging
from http import HTTPStatus
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from voicepipe import errors
from voicepipe.web.context import SETTINGS
from voicepipe.web.middleware import DEPENDENCY_ERRORS, status_for
from voicepipe.web.pages.render import render_page
from voicepipe.web.pages.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    PAGE_USER,
    csrf_matches,
    page_user,
)
from voicepipe.web.ws.auth import same_origin

log = logging.getLogger(__name__)

NOT_PAGES = ("/api", "/ws", "/health", "/metrics", "/static")  # and everything under them
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NO_TOKEN_YET = frozenset({"/login"})  # signing in: no session, so no CSRF token to send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # every page is made for the one who asked, now; none is worth keeping in a shared cache
    "Cache-Control": "no-store",
}
_MESSAGES = {
    400: "The request could not be understood.",
    403: "You may not do this.",
    404: "There is no page at this address.",
    405: "This page does not take that kind of request.",
    413: "That was too large.",
    429: "Too many attempts; wait a little and try again.",
    500: "Something went wrong on our side; the server log has the details.",
    503: "A service voicepipe depends on is unavailable; try again soon.",
}
FOREIGN = "This request did not come from the pages of this site, so it was refused."
BAD_TOKEN = "This form has expired or was not made by this site; reload the page and try again."


def is_page(path: str) -> bool:
    return not any(path == base or path.startswith(base + "/") for base in NOT_PAGES)


def from_this_site(request: web.Request) -> bool:
    """The Origin / Sec-Fetch-Site check (see the module docstring)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.strip().lower() != "same-origin":
        return False
    if "Origin" in request.headers:
        return same_origin(request, request.app[SETTINGS].public_url)
    return True


async def sent_csrf_token(request: web.Request) -> str | None:
    """The token in the `X-CSRF-Token` header (fetch()), else in the form field `csrf_token`."""
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.post()).get(CSRF_FIELD)  # parsed once; the handler reuses it
        return value if isinstance(value, str) else None
    return None


async def check_state_change(request: web.Request) -> None:
    """HTTP 403 unless a state-changing page request is same-origin and carries its token."""
    if not from_this_site(request):
        raise web.HTTPForbidden(reason=FOREIGN)
    if request.path in NO_TOKEN_YET:
        return
    if not csrf_matches(request, await sent_csrf_token(request)):
        raise web.HTTPForbidden(reason=BAD_TOKEN)


@web.middleware
async def page_security(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_page(request.path):
        response = await handler(request)
        if request.path.startswith("/static/") and not response.prepared:
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
    try:
        if request.method not in SAFE_METHODS:
            await check_state_change(request)
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:  # a redirect (to /login, after a form): let aiohttp send it
            exc.headers.update(PAGE_HEADERS)
            raise
        response = await error_page(request, exc.status, exc.reason, exc.headers.get("Allow"))
    except errors.VoicepipeError as exc:
        status = status_for(exc)
        if status == 500:
            log.exception("unhandled voicepipe error on %s %s", request.method, request.path)
        retry_after = exc.retry_after_s if isinstance(exc, errors.RateLimited) else None
        response = await error_page(request, status, str(exc) if status != 500 else None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
    except DEPENDENCY_ERRORS as exc:
        log.warning("dependency unavailable on %s %s: %r", request.method, request.path, exc)
        response = await error_page(request, 503)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = await error_page(request, 500)
    if not response.prepared:
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


async def error_page(
    request: web.Request, status: int, message: str | None = None, allow: str | None = None
) -> web.Response:
    """templates/error.html for `status`; a bare page if even that cannot be rendered."""
    if not message or message == _default_reason(status):
        message = _MESSAGES.get(status, "That did not work.")
    if status < 500 and PAGE_USER not in request:
        with contextlib.suppress(Exception):  # signed-in readers keep their header on a 404
            await page_user(request)
    try:
        response = render_any(
            request,
            "error.html",
            {"status": status, "title": _default_reason(status), "message": message},
        )
    except Exception:
        log.exception("the error page could not be rendered for %s", request.path)
        body = f"<!doctype html><title>{status}</title><p>{html.escape(message)}</p>"
        response = web.Response(text=body, content_type="text/html")
    response.set_status(status)
    if allow:
        response.headers["Allow"] = allow
    return response


def render_any(request: web.Request, template: str, context: dict[str, Any]) -> web.Response:
    """A page for anyone (sign-in, errors): base.html's chrome for the user found so far, if any."""
    user = request.get(PAGE_USER)
    if user is not None:
        return render_page(request, template, user, "", context)
    signed_out = {"user": None, "csrf_token": "", "nav": [], "active": "", **context}
    return aiohttp_jinja2.render_template(template, request, signed_out)


def _default_reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
