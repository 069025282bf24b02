"""Worker heartbeats: each worker process says it is alive; everyone else reads who is."""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

from voicepipe import keys
from voicepipe.engine.lua import LuaScript

# A worker beats every second; four missed seconds and it counts as lost (worker.reaper then
# releases its running jobs). Short enough to rerun a killed worker's jobs within ~5 s, long
# enough that a busy event loop or a Redis failover of a second or two is not taken for a death.
HEARTBEAT_INTERVAL_S = 1.0
HEARTBEAT_TTL_S = 4.0

# A heartbeat goes through even when Redis is out of memory (`allow-oom`): it replaces a record of
# the same size, and a worker whose beats were refused would be taken for dead and its jobs run
# twice. A read-only replica still refuses it.
# KEYS: the worker's record, the workers zset   ARGV: worker id, record, now ms, ttl ms
_BEAT = LuaScript(
    """#!lua flags=allow-oom
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[4]))
"""
)


async def write_heartbeat(redis: Redis, worker_id: str, info: dict[str, Any]) -> None:
    now_ms = int(time.time() * 1000)
    record = json.dumps({**info, "seen_ms": now_ms})
    await _BEAT(
        redis,
        [keys.worker(worker_id), keys.WORKERS],
        [worker_id, record, now_ms, int(HEARTBEAT_TTL_S * 1000)],
    )


async def remove_heartbeat(redis: Redis, worker_id: str) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.delete(keys.worker(worker_id))
        pipe.zrem(keys.WORKERS, worker_id)
        await pipe.execute()


async def live_worker_ids(redis: Redis) -> list[str]:
    """Workers whose last heartbeat is younger than the heartbeat expiry."""
    min_ms = int((time.time() - HEARTBEAT_TTL_S) * 1000)
    ids = await redis.zrangebyscore(keys.WORKERS, min_ms, "+inf")
    return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]


async def get_workers(redis: Redis) -> list[dict[str, Any]]:
    """Every live worker's last heartbeat record."""
    ids = await live_worker_ids(redis)
    if not ids:
        return []
    raw = await redis.mget([keys.worker(i) for i in ids])
    return [json.loads(r) for r in raw if r]
