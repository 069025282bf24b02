"""Signing in and out of the pages: GET/POST /login, POST /logout.

A wrong email and a wrong password get the same answer after the same work (one hash check);
failures are counted per account and per client address, and past a limit the page refuses more
(429) until the window ends. The session cookie is HttpOnly and SameSite=Lax, Secure when the
site is served over https, and lives as long as the session does in Redis.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from voicepipe import errors
from voicepipe.services import accounts, sessions
from voicepipe.web.context import SETTINGS, resources_of
from voicepipe.web.pages.security import render_any
from voicepipe.web.pages.session import SESSION_COOKIE, page_user

ROUTES = web.RouteTableDef()
WRONG = "That email and password do not match an account that may sign in."


def local_path(value: object) -> str:
    """`value` if it is a path on this site, else "/": a sign-in never sends anyone elsewhere."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(char) < 32 or ord(char) == 127 for char in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path.startswith(("/login", "/logout")):
        return "/"
    return value


def _form(
    request: web.Request, next_path: str, email: str = "", error: str | None = None
) -> web.Response:
    messages = [("error", error)] if error else []
    return render_any(
        request, "login.html", {"next": next_path, "email": email, "messages": messages}
    )


@ROUTES.get("/login")
async def login_page(request: web.Request) -> web.Response:
    next_path = local_path(request.query.get("next"))
    if await page_user(request) is not None:
        raise web.HTTPSeeOther(next_path)
    return _form(request, next_path)


@ROUTES.post("/login")
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    next_path = local_path(form.get("next"))
    resources = resources_of(request)
    client = request.remote or "unknown"
    wait_s = await accounts.login_wait_s(resources, email, client)
    if wait_s:
        minutes = -(-wait_s // 60)
        raise errors.RateLimited(
            f"Too many failed sign-ins for this account or from your address; "
            f"try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            wait_s,
        )
    user = await accounts.sign_in(resources.db, email, password)
    if user is None:
        await accounts.count_login_failure(resources, email, client)
        return _form(request, next_path, email, WRONG)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await sessions.end(resources, old)  # a new session on every sign-in, never a reused one
    token = await sessions.create(resources, user.id)
    response = web.Response(status=303, headers={"Location": next_path})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=sessions.SESSION_TTL_S,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=request.app[SETTINGS].site_url.startswith("https://"),
    )
    return response


@ROUTES.post("/logout")
async def logout(request: web.Request) -> web.Response:
    """End the session (the CSRF check ran in the pages' middleware) and forget the cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await sessions.end(resources_of(request), token)
    response = web.Response(status=303, headers={"Location": "/login"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
