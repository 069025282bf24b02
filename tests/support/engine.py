"""Running real worker processes in the test's event loop, and reading the event stream."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from voicepipe import keys
from voicepipe.resources import Resources
from voicepipe.worker.runner import WorkerProcess


class RunningWorker:
    """A WorkerProcess serving `queues` in the background until `close()`."""

    def __init__(self, resources: Resources, queues: list[str], concurrency: int = 4) -> None:
        self.process = WorkerProcess(resources, queues, concurrency=concurrency, cpu_workers=2)
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.process.run(self.stop))

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


async def job_events(resources: Resources, job_id: str) -> list[dict[str, Any]]:
    """Every event of one job in the stream, in order."""
    entries = await resources.redis.xrange(keys.EVENTS)
    events = [json.loads(fields[b"e"]) for _, fields in entries]
    return [e for e in events if e["job_id"] == job_id]


async def marks(resources: Resources, job_id: str, name: str) -> list[int]:
    return [int(v) for v in await resources.redis.lrange(f"test:{job_id}:{name}", 0, -1)]
