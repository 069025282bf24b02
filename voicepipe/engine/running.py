"""Jobs running now, as the `running:<queue>` hashes say: one reader for monitoring and the reaper."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass

from arq.connections import ArqRedis

from voicepipe import keys
from voicepipe.settings import QUEUES


@dataclass(frozen=True)
class RunningEntry:
    """One job a worker claimed and has not finished."""

    job_id: str
    queue: str
    worker: str
    started_ms: int
    try_number: int
    task: str | None


async def running_entries(redis: ArqRedis, queues: Collection[str] = QUEUES) -> list[RunningEntry]:
    """Every running entry of `queues`, in one round trip."""
    queues = list(queues)
    async with redis.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.hgetall(keys.running(queue))
        replies: list[dict[bytes, bytes]] = await pipe.execute()
    found = []
    for queue, entries in zip(queues, replies, strict=True):
        for job_id, raw in entries.items():
            data = json.loads(raw)
            found.append(
                RunningEntry(
                    job_id=job_id.decode() if isinstance(job_id, bytes) else str(job_id),
                    queue=queue,
                    worker=str(data.get("worker") or "?"),
                    started_ms=int(data.get("started_ms") or 0),
                    try_number=int(data.get("try") or 1),
                    task=data.get("task"),
                )
            )
    return found
