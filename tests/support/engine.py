"""Running real worker processes in the test's event loop; reading what they recorded and published."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import tests.support.jobs  # noqa: F401  (registers the test tasks fail_jobs runs)
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.engine import events
from voicepipe.engine.registry import JobHandle, get_task
from voicepipe.history import monitoring
from voicepipe.resources import Resources
from voicepipe.worker.runner import WorkerProcess

FINAL = ("success", "failure", "cancelled")


class RunningWorker:
    """A WorkerProcess serving `queues` in the background until `close()`."""

    def __init__(self, resources: Resources, queues: list[str], concurrency: int = 4) -> None:
        self.process = WorkerProcess(resources, queues, concurrency=concurrency, cpu_workers=2)
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.process.run(self.stop))

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


async def stream_events(resources: Resources) -> list[dict[str, Any]]:
    """Every event in the stream, in order (an entry may carry several, one JSON per line)."""
    entries = await resources.redis.xrange(keys.EVENTS)
    return [json.loads(line) for _, fields in entries for line in events.split(fields[b"e"])]


async def job_events(resources: Resources, job_id: str) -> list[dict[str, Any]]:
    """The job's recorded timeline (PostgreSQL), once its final event is recorded, as flat dicts."""

    async def recorded() -> list[dict[str, Any]] | None:
        timeline = await monitoring.get_job_timeline(resources, job_id)
        if not timeline or timeline[-1].event not in FINAL:
            return None
        return [
            {
                **e.data,
                "event": e.event,
                "at": e.at.timestamp(),
                "try": e.try_number,
                "worker": e.worker,
            }
            for e in timeline
        ]

    return await eventually(recorded, timeout_s=15, what=f"job {job_id} to be recorded")


@asynccontextmanager
async def live_events(
    resources: Resources, channel: str = keys.LIVE
) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """Every message published on `channel` (job events by default) while the block runs; a
    message of several lines is several messages."""
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    pubsub = resources.redis.pubsub()
    await pubsub.subscribe(channel)

    async def pump() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                for encoded in events.split(message["data"]):
                    received.put_nowait(json.loads(encoded))

    pumping = asyncio.create_task(pump())
    try:
        yield received
    finally:
        pumping.cancel()
        await asyncio.gather(pumping, return_exceptions=True)
        await pubsub.aclose()


async def next_event(
    events: asyncio.Queue[dict[str, Any]], kind: str, timeout_s: float = 10
) -> dict[str, Any]:
    """The next live event of `kind`."""
    async with asyncio.timeout(timeout_s):
        while True:
            event = await events.get()
            if event["event"] == kind:
                return event


async def marks(resources: Resources, job_id: str, name: str) -> list[int]:
    return [int(v) for v in await resources.redis.lrange(f"test:{job_id}:{name}", 0, -1)]


async def run_until_recorded(
    resources: Resources, enqueue: Callable[[], Awaitable[list[JobHandle]]], queue: str = "default"
) -> list[JobHandle]:
    """Enqueue jobs with `enqueue()` and run them through a real worker until each one's end is
    recorded in the history (what pages and statistics read)."""
    worker = RunningWorker(resources, [queue])
    try:
        handles = await enqueue()

        async def recorded() -> bool:
            infos = [await monitoring.get_job_info(resources, h.job_id) for h in handles]
            return all(info is not None and info.status in FINAL for info in infos)

        await eventually(recorded, timeout_s=20, what="every job recorded")
    finally:
        await worker.close()
    return handles


async def fail_jobs(resources: Resources, count: int) -> list[str]:
    """`count` jobs of the test task t_broken run by a real worker and recorded as failed; their ids."""

    async def enqueue() -> list[JobHandle]:
        return [await get_task("t_broken").enqueue(resources) for _ in range(count)]

    return [h.job_id for h in await run_until_recorded(resources, enqueue)]
