"""The second baseline: a SAQ worker with the same no-op job (run as its own process by the benchmark).

SAQ's workers take jobs with a blocking pop (BLMOVE), one per concurrency slot, so there is no poll
delay to tune: its best setting is the same concurrency as ours. Results are kept (SAQ's default
job ttl, 600 s).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import uvloop
from saq.queue.redis import RedisQueue
from saq.worker import Worker

SAQ_QUEUE = "bench-saq"


def worker_info_key(worker_id: str) -> str:
    """SAQ writes it as its worker starts: the benchmark's sign that this worker is ready."""
    return f"saq:{SAQ_QUEUE}:worker_info:{worker_id}"


async def noop(ctx: dict[str, Any]) -> float:
    return time.time()


async def serve(redis_url: str, concurrency: int, worker_id: str) -> None:
    queue = RedisQueue.from_url(redis_url, name=SAQ_QUEUE)
    worker: Worker[Any] = Worker(queue, [("noop", noop)], id=worker_id, concurrency=concurrency)
    await queue.connect()
    try:
        await worker.start()  # until SIGTERM (SAQ's own handler)
    finally:
        await queue.disconnect()


def main() -> None:
    redis_url, concurrency, worker_id = sys.argv[1:4]
    # Stopping cancels the slots' blocking pops, which SAQ reports as a warning every time.
    logging.getLogger("saq").setLevel(logging.ERROR)
    uvloop.run(serve(redis_url, int(concurrency), worker_id))


if __name__ == "__main__":
    main()
