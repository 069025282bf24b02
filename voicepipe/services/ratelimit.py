"""Fixed-window rate limits in Redis: one atomic INCR-and-expire per request, shared by every web process."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from voicepipe import keys
from voicepipe.engine.lua import LuaScript
from voicepipe.errors import RateLimited

# KEYS: counter   ARGV: window length ms. Returns the count so far and the ms left in the window.
# Allowed while Redis is out of memory (a small counter that expires): reads of the history in
# PostgreSQL still work then, and must not all be refused for want of a rate-limit count.
_HIT = LuaScript(
    """#!lua flags=allow-oom
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}
"""
)


async def hit(redis: Redis, group: str, identity: str, limit: int, window_s: int) -> None:
    """Count one request; raise RateLimited (with whole seconds to wait) past `limit` per window."""
    if limit <= 0:
        return
    window = int(time.time() // window_s)
    key = keys.rate_limit(group, identity, window)
    count, left_ms = await _HIT(redis, [key], [window_s * 1000])
    if int(count) > limit:
        retry_after_s = max(1, -(-int(left_ms) // 1000))
        raise RateLimited(
            f"more than {limit} {group} requests in {window_s} s; retry in {retry_after_s} s",
            retry_after_s,
        )
