"""Worker heartbeats: each worker process says it is alive; everyone else reads who is."""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

from voicepipe import keys

# A worker beats every second; four missed seconds and it counts as lost (worker.reaper then
# releases its running jobs). Short enough to rerun a killed worker's jobs within ~5 s, long
# enough that a busy event loop or a Redis failover of a second or two is not taken for a death.
HEARTBEAT_INTERVAL_S = 1.0
HEARTBEAT_TTL_S = 4.0


async def write_heartbeat(redis: Redis, worker_id: str, info: dict[str, Any]) -> None:
    now_ms = int(time.time() * 1000)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(
            keys.worker(worker_id),
            json.dumps({**info, "seen_ms": now_ms}),
            px=int(HEARTBEAT_TTL_S * 1000),
        )
        pipe.zadd(keys.WORKERS, {worker_id: now_ms})
        pipe.zremrangebyscore(keys.WORKERS, "-inf", now_ms - int(HEARTBEAT_TTL_S * 1000))
        await pipe.execute()


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
