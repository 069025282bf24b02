"""Browser sessions: a random token in a cookie, its digest in Redis naming the user, with an expiry.

The admin page signs in with one; the websocket feed accepts its cookie from the server's own
origin only. Only the SHA-256 of a token is stored, so a Redis dump holds no usable session.
"""

from __future__ import annotations

import hashlib
import secrets

from voicepipe import keys
from voicepipe.db import feed as feed_db
from voicepipe.db.users import UserRow
from voicepipe.resources import Resources

SESSION_COOKIE = "voicepipe_session"
SESSION_TTL_S = 12 * 3600  # a working day; signing in again after that is cheap
_MAX_TOKEN_CHARS = 200  # a longer cookie is not one of ours: not worth hashing


def _key(token: str) -> str:
    return keys.session(hashlib.sha256(token.encode()).hexdigest())


async def create(resources: Resources, user_id: int, ttl_s: int = SESSION_TTL_S) -> str:
    """A new session of `user_id`; returns the token to set as the SESSION_COOKIE."""
    token = secrets.token_urlsafe(32)
    await resources.redis.set(_key(token), str(user_id), ex=ttl_s)
    return token


async def user_for(resources: Resources, token: str) -> UserRow | None:
    """The enabled user of a live session, or None (unknown, expired or ended; user disabled)."""
    if not token or len(token) > _MAX_TOKEN_CHARS:
        return None
    user_id = await resources.redis.get(_key(token))
    if user_id is None:
        return None
    return await feed_db.enabled_user(resources.db, int(user_id))


async def end(resources: Resources, token: str) -> None:
    """Sign out: the token no longer names anyone."""
    if token and len(token) <= _MAX_TOKEN_CHARS:
        await resources.redis.delete(_key(token))
