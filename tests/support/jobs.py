"""Tasks and CPU functions the engine tests run (registered once, importable by CPU children)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from voicepipe.engine.job_context import JobContext
from voicepipe.engine.registry import REGISTRY, Task, task
from voicepipe.errors import JobCancelled, SoftTimeLimitExceeded


class Flaky(Exception):
    """A transient failure the flaky task retries on."""


def spin(seconds: float) -> int:
    """Burn CPU in a child process; returns its pid."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    return os.getpid()


def square(x: int) -> int:
    return x * x


async def _mark(ctx: JobContext, name: str) -> None:
    await ctx.resources.redis.rpush(f"test:{ctx.job_id}:{name}", ctx.try_number)


def _declare(name: str, **policy: Any) -> Any:
    def register(fn: Any) -> Task:
        return REGISTRY.get(name) or task(name=name, **policy)(fn)

    return register


@_declare("t_echo", queue="default")
async def echo(ctx: JobContext, value: Any = None) -> dict[str, Any]:
    await _mark(ctx, "ran")
    return {"value": value, "queue": ctx.queue, "try": ctx.try_number}


@_declare("t_flaky", max_retries=3, autoretry_for=(Flaky,), retry_backoff_max_s=60.0)
async def flaky(ctx: JobContext, succeed_on: int) -> int:
    await _mark(ctx, "ran")
    if ctx.try_number < succeed_on:
        raise Flaky(f"try {ctx.try_number} fails")
    return ctx.try_number


@_declare("t_broken", max_retries=3, autoretry_for=(Flaky,))
async def broken(ctx: JobContext) -> None:
    await _mark(ctx, "ran")
    raise ValueError("corrupt input: this never gets better")


@_declare("t_retry_self", max_retries=1)
async def retry_self(ctx: JobContext, wait_s: float) -> int:
    await _mark(ctx, "ran")
    if ctx.try_number == 1:
        raise ctx.retry(countdown_s=wait_s)
    return ctx.try_number


@_declare("t_soft", soft_time_limit_s=0.3, time_limit_s=5.0)
async def soft(ctx: JobContext) -> str:
    try:
        await asyncio.sleep(30)
    except SoftTimeLimitExceeded:
        await _mark(ctx, "saw_soft")
        raise
    finally:
        await _mark(ctx, "cleanup")
    return "never"


@_declare("t_stubborn", time_limit_s=0.5)
async def stubborn(ctx: JobContext) -> str:
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        await _mark(
            ctx, "refused_cancel"
        )  # ignores the first cancellation: the slot is freed anyway
    await asyncio.sleep(30)
    return "too late"


@_declare("t_cpu", time_limit_s=30.0)
async def cpu(ctx: JobContext, seconds: float) -> int:
    await _mark(ctx, "ran")
    pid: int = await ctx.run_cpu(spin, seconds)
    return pid


@_declare("t_cpu_hard", time_limit_s=1.0)
async def cpu_hard(ctx: JobContext, seconds: float) -> int:
    pid: int = await ctx.run_cpu(spin, seconds)
    return pid


@_declare("t_progress")
async def progress(ctx: JobContext, steps: int) -> int:
    for step in range(1, steps + 1):
        await ctx.progress(step, steps, stage="counting")
    return steps


@_declare("t_slow")
async def slow(ctx: JobContext, seconds: float) -> dict[str, Any]:
    await ctx.resources.redis.set(f"test:started:{ctx.job_id}", ctx.try_number)
    if ctx.try_number == 1:
        await asyncio.sleep(seconds)
    return {"try": ctx.try_number}


@_declare("t_cpu_soft", soft_time_limit_s=0.5, time_limit_s=10.0)
async def cpu_soft(ctx: JobContext, seconds: float) -> int:
    try:
        pid: int = await ctx.run_cpu(spin, seconds)
    except SoftTimeLimitExceeded:
        await _mark(ctx, "saw_soft")
        raise
    finally:
        await _mark(ctx, "cleanup")
    return pid


@_declare("t_long", max_retries=0)
async def long(ctx: JobContext, seconds: float = 30.0) -> str:
    await _mark(ctx, "ran")
    try:
        await asyncio.sleep(seconds)
    except JobCancelled:
        await _mark(ctx, "saw_cancel")
        raise
    finally:
        await _mark(ctx, "cleanup")
    return "done"


NAPPED: list[str] = []  # ids of t_nap jobs whose body has finished, in this process


@_declare("t_nap")
async def nap(ctx: JobContext, seconds: float) -> int:
    """Sleeps and touches nothing: it runs the same whether Redis or PostgreSQL is reachable."""
    await asyncio.sleep(seconds)
    NAPPED.append(ctx.job_id)
    return ctx.try_number
