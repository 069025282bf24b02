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
    return keys.session(_digest(token))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create(resources: Resources, user_id: int, ttl_s: int = SESSION_TTL_S) -> str:
    """A new session of `user_id`; returns the token to set as the SESSION_COOKIE."""
    token = secrets.token_urlsafe(32)
    async with resources.redis.pipeline(transaction=True) as pipe:
        pipe.set(_key(token), str(user_id), ex=ttl_s)
        # the user's index of sessions lives as long as their newest session
        pipe.sadd(keys.user_sessions(user_id), _digest(token))
        pipe.expire(keys.user_sessions(user_id), ttl_s)
        await pipe.execute()
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
    if not token or len(token) > _MAX_TOKEN_CHARS:
        return
    async with resources.redis.pipeline(transaction=False) as pipe:
        pipe.getdel(_key(token))
        (user_id,) = await pipe.execute()
    if user_id is not None:
        async with resources.redis.pipeline(transaction=False) as pipe:
            pipe.srem(keys.user_sessions(int(user_id)), _digest(token))
            await pipe.execute()


async def end_all(resources: Resources, user_id: int) -> int:
    """End every session of `user_id` (after a password change); returns how many were live."""
    index = keys.user_sessions(user_id)
    async with resources.redis.pipeline(transaction=False) as pipe:
        pipe.smembers(index)
        (members,) = await pipe.execute()
    digests = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
    async with resources.redis.pipeline(transaction=True) as pipe:
        for digest in digests:
            pipe.delete(keys.session(digest))
        pipe.delete(index)
        deleted = await pipe.execute()
    return sum(int(n) for n in deleted[:-1])
