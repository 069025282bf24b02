"""One worker process serving several queues: ping end to end, heartbeats, graceful stop."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.engine import RunningWorker
from tests.support.jobs import slow
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.engine.heartbeats import get_workers
from voicepipe.resources import Resources
from voicepipe.settings import QUEUES
from voicepipe.tasks.ping import ping


@pytest.fixture
async def worker(resources: Resources) -> Any:
    running = RunningWorker(resources, list(QUEUES))
    yield running
    await running.close()


async def test_ping_runs_on_every_queue(resources: Resources, worker: RunningWorker) -> None:
    for queue in QUEUES:
        handle = await ping.enqueue(resources, queue=queue, payload=queue)
        result = await handle.result(timeout_s=10)
        assert result["payload"] == queue and result["queue"] == queue
        assert result["worker"] == worker.process.worker_id


async def test_heartbeat_describes_the_worker(worker: RunningWorker, resources: Resources) -> None:
    beats = await eventually(lambda: get_workers(resources.redis), what="a heartbeat")
    assert beats[0]["id"] == worker.process.worker_id
    assert beats[0]["queues"] == list(QUEUES)
    assert (
        beats[0]["concurrency"] == 4
        and beats[0]["processed"] == 0
        and beats[0]["memory_rss_bytes"] > 0
    )


async def test_stop_lets_short_jobs_finish(resources: Resources) -> None:
    running = RunningWorker(resources, ["default"])
    handle = await slow.enqueue(resources, seconds=0.3)
    await eventually(
        lambda: resources.redis.exists(f"test:started:{handle.job_id}"), what="job start"
    )
    await running.close()
    assert await handle.result(timeout_s=1) == {"try": 1}
    assert await get_workers(resources.redis) == []


async def test_stop_hands_unfinished_jobs_back(resources: Resources) -> None:
    first = RunningWorker(resources, ["default"])
    handle = await slow.enqueue(resources, seconds=60)
    await eventually(
        lambda: resources.redis.exists(f"test:started:{handle.job_id}"), what="job start"
    )
    await first.close()  # grace is 2 s in tests; the job needs 60
    assert await resources.redis.zscore(keys.queue("default"), handle.job_id) is not None
    second = RunningWorker(resources, ["default"])
    try:
        assert await handle.result(timeout_s=10) == {"try": 2}
    finally:
        await second.close()
