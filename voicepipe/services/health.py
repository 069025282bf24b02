"""Health of the parts voicepipe depends on: Redis, PostgreSQL and live workers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from voicepipe import __version__
from voicepipe.engine.heartbeats import live_worker_ids
from voicepipe.resources import Resources

CHECK_TIMEOUT_S = 2.0


@dataclass
class Health:
    ok: bool
    report: dict[str, Any] = field(default_factory=dict)


async def check(resources: Resources) -> Health:
    redis_state, pg_state = await asyncio.gather(_redis(resources), _postgres(resources))
    workers: int | None = None
    if redis_state["status"] == "ok":
        workers = len(await live_worker_ids(resources.redis))
    ok = redis_state["status"] == "ok" and pg_state["status"] == "ok"
    report = {
        "status": "ok" if ok else "unavailable",
        "redis": redis_state,
        "postgres": pg_state,
        "workers": workers,
        "version": __version__,
    }
    return Health(ok=ok, report=report)


async def _redis(resources: Resources) -> dict[str, Any]:
    return await _timed(resources.redis.ping())


async def _postgres(resources: Resources) -> dict[str, Any]:
    return await _timed(resources.db.fetchval("SELECT 1"))


async def _timed(probe: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure of a dependency is reported, not raised
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
