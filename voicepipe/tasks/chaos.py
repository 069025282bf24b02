"""`chaos_nap`: an idempotent job that takes a while; what the chaos benchmark runs and kills."""

from __future__ import annotations

import asyncio
from typing import Any

from voicepipe import keys
from voicepipe.engine.registry import JobContext, task


@task(queue="default", max_retries=3)
async def chaos_nap(ctx: JobContext, seconds: float, run_id: str) -> dict[str, Any]:
    """Count the start, sleep until `seconds` after it, then set a mark that is the same however
    often it runs. Once the count shows in Redis, the nap's end is fixed, whenever this process
    reads the reply (a test stops a worker as soon as it sees the count)."""
    redis = ctx.resources.redis
    loop = asyncio.get_running_loop()
    wake_at = loop.time() + seconds
    await redis.hincrby(keys.chaos_runs(run_id), ctx.job_id, 1)  # type: ignore[misc]
    await asyncio.sleep(max(wake_at - loop.time(), 0))
    await redis.hset(keys.chaos_done(run_id), ctx.job_id, str(seconds))  # type: ignore[misc]
    return {"try": ctx.try_number, "slept_s": seconds}
