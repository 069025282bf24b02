"""Filling a Valkey past its `maxmemory` (noeviction) and freeing it again, for out-of-memory tests."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError

FILLER = "test:filler:"
VALUE_BYTES = 16_384


async def fill_to_maxmemory(redis: Redis, headroom_bytes: int = 4_000_000) -> int:
    """Cap Redis at what it uses now plus `headroom_bytes`, under `noeviction`, and write filler
    keys until it refuses one as out of memory; returns how many it took.

    The cap is then lowered a little below what Redis uses, so that memory moving by a few
    kilobytes (client buffers) does not let writes through now and then; freeing the filler brings
    it well under the cap again.
    """
    await redis.config_set("maxmemory-policy", "noeviction")
    used = int((await redis.info("memory"))["used_memory"])
    await redis.config_set("maxmemory", used + headroom_bytes)
    written = 0
    while True:
        try:
            await redis.set(f"{FILLER}{written}", b"x" * VALUE_BYTES)
        except OutOfMemoryError:
            break
        written += 1
    full = int((await redis.info("memory"))["used_memory"])
    await redis.config_set("maxmemory", full - headroom_bytes // 4)
    return written


async def free_filler(redis: Redis, written: int) -> None:
    """Delete the filler (deleting is allowed out of memory): Redis takes writes again."""
    names = [f"{FILLER}{i}" for i in range(written)]
    for start in range(0, len(names), 500):
        await redis.delete(*names[start : start + 500])


async def refusals(redis: Redis, code: str) -> int:
    """How many commands Redis has answered with error `code` (OOM, READONLY…) since it started."""
    stats = await redis.info("errorstats")
    entry = stats.get(f"errorstat_{code}")
    return int(entry["count"]) if entry else 0
