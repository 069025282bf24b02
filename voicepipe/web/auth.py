"""Who is calling: bearer tokens to users, and the per-caller rate limit of a route group."""

from __future__ import annotations

import hashlib

from aiohttp import web

from voicepipe import errors
from voicepipe.db.users import UserRow
from voicepipe.resources import Resources
from voicepipe.services import accounts, ratelimit

RATE_GROUPS = ("read", "write")


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate_request(request: web.Request, resources: Resources) -> UserRow:
    """The user behind the request's bearer token, or NotAuthenticated (401)."""
    token = bearer_token(request)
    if token is None:
        raise errors.NotAuthenticated("send an API token: `Authorization: Bearer vp_…`")
    if len(token) > 200:
        raise errors.NotAuthenticated("that API token is not valid")
    user = await accounts.authenticate_token(resources.db, token)
    if user is None:
        raise errors.NotAuthenticated("that API token is not valid, or was revoked")
    return user


def caller_identity(request: web.Request, by_ip: bool = False) -> str:
    """Who a rate limit counts: the token's digest (never the token), or the client's IP."""
    token = bearer_token(request)
    if token is not None and not by_ip:
        return "t:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return "ip:" + (request.remote or "unknown")


async def rate_limit(
    request: web.Request, resources: Resources, group: str, by_ip: bool = False
) -> None:
    settings = resources.settings
    limit = {"read": settings.rate_limit_read, "write": settings.rate_limit_write}[group]
    identity = caller_identity(request, by_ip)
    await ratelimit.hit(resources.redis, group, identity, limit, settings.rate_limit_window_s)
