"""`noop`: a job that does nothing but say when it started; what the engine benchmark runs."""

from __future__ import annotations

import time

from voicepipe.engine.registry import JobContext, task


@task(queue="default", max_retries=0)
async def noop(ctx: JobContext) -> float:
    return time.time()
