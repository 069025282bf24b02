"""Who is connecting: a bearer token or the session cookie on the handshake, else a first
`{"type": "auth", "token": …}` message within the hub's auth timeout.

The session cookie rides along with any request a browser makes, a cross-site page's included,
so it counts only when the handshake's Origin is this server's own (VOICEPIPE_PUBLIC_URL, or the
Host the request was sent to).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from voicepipe.db.users import UserRow
from voicepipe.resources import Resources
from voicepipe.services import accounts, sessions
from voicepipe.web.auth import bearer_token
from voicepipe.web.ws import protocol

MAX_TOKEN_CHARS = 200


@dataclass(frozen=True)
class Refused:
    """Why a socket is closed before it gets anything: a close code and its reason."""

    code: int
    reason: str


async def from_handshake(request: web.Request, resources: Resources) -> UserRow | Refused | None:
    """The user the handshake names; Refused for bad credentials; None when it names nobody
    (the first message may)."""
    token = bearer_token(request)
    if token is not None:
        return await _by_token(resources, token)
    cookie = request.cookies.get(sessions.SESSION_COOKIE)
    if cookie is None:
        return None
    if not same_origin(request, resources.settings.public_url):
        return Refused(*protocol.FOREIGN_ORIGIN)
    user = await sessions.user_for(resources, cookie)
    return user if user is not None else Refused(*protocol.INVALID_SESSION)


async def from_first_message(
    ws: web.WebSocketResponse, resources: Resources, timeout_s: float
) -> UserRow | Refused:
    try:
        message = await ws.receive(timeout=timeout_s)
    except TimeoutError:
        return Refused(*protocol.AUTH_REQUIRED)
    if message.type != WSMsgType.TEXT:
        return Refused(*protocol.AUTH_REQUIRED)
    try:
        parsed = protocol.parse(message.data)
    except protocol.ProtocolError:
        return Refused(*protocol.AUTH_REQUIRED)
    if not isinstance(parsed, protocol.Auth):
        return Refused(*protocol.AUTH_REQUIRED)
    return await _by_token(resources, parsed.token)


async def _by_token(resources: Resources, token: str) -> UserRow | Refused:
    if len(token) > MAX_TOKEN_CHARS:
        return Refused(*protocol.INVALID_TOKEN)
    user = await accounts.authenticate_token(resources.db, token)
    return user if user is not None else Refused(*protocol.INVALID_TOKEN)


def same_origin(request: web.Request, public_url: str | None) -> bool:
    """Does the handshake's Origin name this server (its public URL, or the Host it was sent to)?"""
    origin = request.headers.get("Origin")
    if not origin:
        return False  # every browser sends one on a websocket handshake
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    if public_url is not None:
        public = urlsplit(public_url.strip().lower())
        if (public.scheme, public.netloc) == (parts.scheme, parts.netloc):
            return True
    return parts.netloc == request.host.lower()


async def wait_for_auth(
    ws: web.WebSocketResponse, request: web.Request, resources: Resources, timeout_s: float
) -> UserRow | Refused:
    """The handshake's user, or the first message's within `timeout_s`."""
    found = await from_handshake(request, resources)
    if found is None:
        return await from_first_message(ws, resources, timeout_s)
    return found
