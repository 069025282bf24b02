"""The first baseline: a plain arq worker with the same no-op job (run as its own process by the benchmark)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Any

import uvloop
from arq.connections import RedisSettings
from arq.worker import Worker, func

BASELINE_QUEUE = "bench:arq"


def health_check_key(worker_name: str) -> str:
    """arq writes it on its first poll: the benchmark's sign that this worker is ready."""
    return f"{BASELINE_QUEUE}:health-check:{worker_name}"


async def noop(ctx: dict[str, Any]) -> float:
    return time.time()


def main() -> None:
    redis_url, max_jobs, poll_delay_s, worker_name = sys.argv[1:5]
    # The same event loop as voicepipe's workers, so the comparison is of the engines, not the loops.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    worker = Worker(
        [func(noop, name="noop")],
        queue_name=BASELINE_QUEUE,
        redis_settings=RedisSettings.from_dsn(redis_url),
        max_jobs=int(max_jobs),
        poll_delay=float(poll_delay_s),
        keep_result=3600,
        log_results=False,
        health_check_key=health_check_key(worker_name),
    )
    # arq's own shutdown re-raises the cancellation of a job it was running; the benchmark stops
    # the worker with SIGTERM on purpose, so that is not an error here.
    with contextlib.suppress(asyncio.CancelledError):
        worker.run()


if __name__ == "__main__":
    main()
