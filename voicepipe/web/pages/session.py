"""Who is looking at a page: the signed-in user of the session cookie, and the CSRF token of
that session that every form and fetch() of the page sends back.

The CSRF token is an HMAC keyed by the session token (a secret the page never sees: the cookie is
HttpOnly), so it needs no server-side secret or storage, differs per session and dies with it.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from aiohttp import web

from voicepipe.db.users import UserRow
from voicepipe.services import sessions
from voicepipe.web.context import resources_of

SESSION_COOKIE = sessions.SESSION_COOKIE
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# the request's user, looked up once per request
PAGE_USER: web.RequestKey[UserRow | None] = web.RequestKey("page_user")
_CSRF_CONTEXT = b"voicepipe csrf v1"


async def page_user(request: web.Request) -> UserRow | None:
    """The signed-in, enabled user of the request's session cookie, or None."""
    if PAGE_USER not in request:
        token = request.cookies.get(SESSION_COOKIE)
        user = await sessions.user_for(resources_of(request), token) if token else None
        request[PAGE_USER] = user
    return request[PAGE_USER]


def login_url(request: web.Request) -> str:
    """Where to sign in and come back to this page afterwards."""
    return "/login?next=" + quote(request.path_qs, safe="")


async def require_user(request: web.Request) -> UserRow:
    """The signed-in user; anyone else is sent to /login (303), and comes back here after."""
    user = await page_user(request)
    if user is None:
        raise web.HTTPSeeOther(login_url(request))
    return user


async def require_admin(request: web.Request) -> UserRow:
    """A signed-in admin; a signed-in user who is not one gets 403 (an HTML page)."""
    user = await require_user(request)
    if user.role != "admin":
        raise web.HTTPForbidden(reason="This page is for admins.")
    return user


def token_for(session_token: str) -> str:
    return hmac.new(session_token.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


def csrf_token(request: web.Request) -> str:
    """The token every form (hidden field `csrf_token`) and fetch() (`X-CSRF-Token` header) of
    this session sends with a state-changing request; empty without a session cookie."""
    session_token = request.cookies.get(SESSION_COOKIE)
    return token_for(session_token) if session_token else ""


def csrf_matches(request: web.Request, sent: str | None) -> bool:
    """Is `sent` this session's CSRF token? (constant-time; False without a session)."""
    expected = csrf_token(request)
    return bool(expected and sent) and hmac.compare_digest(expected, sent or "")
