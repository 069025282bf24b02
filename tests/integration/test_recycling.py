"""Worker recycling against real supervised `voicepipe worker` processes: past its job or memory
limit a worker drains, exits with its restart code, and its supervisor starts a fresh one; every
job runs exactly once, and the workers API shows how often the worker was restarted and why."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support import jobs
from tests.support.api import Api, api_fixture  # noqa: F401  (the `api` fixture)
from tests.support.engine import RunningWorker
from tests.support.waiting import eventually
from tests.support.workers import worker_processes
from voicepipe import keys
from voicepipe.engine.broker import Broker, ClaimedJob
from voicepipe.engine.registry import JobHandle
from voicepipe.history.monitoring import get_job_timeline
from voicepipe.resources import Resources
from voicepipe.settings import Settings
from voicepipe.tasks.ping import ping


async def _ran_once_each(resources: Resources, handles: list[JobHandle]) -> list[dict[str, Any]]:
    """Each job's result, once every job is recorded with one start and a success."""
    results = [await handle.result(timeout_s=60) for handle in handles]

    async def recorded_once() -> bool:
        for handle in handles:
            timeline = await get_job_timeline(resources, handle.job_id)
            if [e.event for e in timeline] != ["queued", "started", "success"]:
                return False
        return True

    await eventually(recorded_once, timeout_s=20, what="every job recorded: one start, a success")
    return results


async def _worker_seen(api: Api, restarts: int) -> dict[str, Any] | None:
    """The worker as GET /api/jobs/workers shows it, once it was restarted `restarts` times."""
    status, body = await api.get("/api/jobs/workers", api.admin)
    assert status == 200, body
    seen = [w for w in body["workers"] if w["restarts"] >= restarts]
    return seen[0] if seen else None


async def test_a_worker_past_its_job_limit_is_replaced_and_runs_every_job_once(
    settings: Settings, resources: Resources, api: Api, tmp_path: Path
) -> None:
    with worker_processes(settings, tmp_path, 1, None, VOICEPIPE_WORKER_MAX_JOBS="5"):
        handles = [await ping.enqueue(resources, payload=str(i)) for i in range(20)]
        results = await _ran_once_each(resources, handles)
        per_process = Counter(r["pid"] for r in results)
        assert len(per_process) >= 4 and max(per_process.values()) <= 5, per_process
        # the fourth process ran the last five jobs and was replaced too
        worker = await eventually(lambda: _worker_seen(api, 4), timeout_s=30,
                                  what="the API to show four restarts")  # fmt: skip
        assert worker["last_exit"] == "max jobs"
        assert worker["pid"] not in per_process  # the fresh one, not yet used
    log = (tmp_path / "worker-0.log").read_text()
    assert log.count("worker recycles: it ran 5 jobs (VOICEPIPE_WORKER_MAX_JOBS=5)") >= 4
    assert "worker restarting as asked (max jobs)" in log
    assert "handed" not in log  # nothing was left running to hand back


async def test_a_worker_past_its_memory_limit_runs_a_job_per_process_and_idles_without_restarts(
    settings: Settings, resources: Resources, api: Api, tmp_path: Path
) -> None:
    """A limit below what any worker needs (1 MB): each process still runs a job before it is
    replaced, and one with no work stays up instead of restarting in a loop."""
    with worker_processes(settings, tmp_path, 1, None, VOICEPIPE_WORKER_MAX_MEMORY_MB="1",
                           VOICEPIPE_WORKER_CONCURRENCY="1"):  # fmt: skip
        handles = [await ping.enqueue(resources, payload=str(i)) for i in range(4)]
        results = await _ran_once_each(resources, handles)
        assert len({r["pid"] for r in results}) == 4  # one job per process
        worker = await eventually(lambda: _worker_seen(api, 4), timeout_s=30,
                                  what="the API to show four restarts")  # fmt: skip
        assert worker["last_exit"] == "max memory"

        async def idle_for_3_s() -> dict[str, Any] | None:
            now = await _worker_seen(api, 4)
            up_s = now["seen_ms"] / 1000 - now["started_at"] if now else 0
            return now if now and up_s >= 3 else None

        idle = await eventually(idle_for_3_s, timeout_s=30, what="the fresh worker up for 3 s")
        assert (idle["id"], idle["restarts"]) == (worker["id"], worker["restarts"])
    log = (tmp_path / "worker-0.log").read_text()
    assert "is above VOICEPIPE_WORKER_MAX_MEMORY_MB=1: each process will run one job" in log
    assert log.count("worker recycles: its RSS is") == 4


class LateClaimReplies:
    """A worker's broker whose claims that took jobs answer late, as over a slow network: the
    claim has run in Redis, its reply waits until `reply` is set."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.reply = asyncio.Event()
        self.took_jobs = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.broker, name)

    async def claim(self, *args: Any) -> tuple[list[ClaimedJob], int | None]:
        jobs, next_due_ms = await self.broker.claim(*args)
        if jobs:
            self.took_jobs.set()
            await self.reply.wait()
        return jobs, next_due_ms


async def test_a_worker_stopped_while_a_claim_is_in_flight_runs_what_it_claimed(
    resources: Resources,
) -> None:
    """The claim's reply comes after the stop: the jobs it took are run by the drain, not left
    in the running hash for a reaper to release as a lost worker's jobs."""
    worker = RunningWorker(resources, ["default"], concurrency=2)
    late = LateClaimReplies(worker.process.broker)
    worker.process.broker = late  # type: ignore[assignment]
    handle = await jobs.nap.enqueue(resources, seconds=0.05)
    await asyncio.wait_for(late.took_jobs.wait(), 10)
    assert await resources.redis.hlen(keys.running("default")) == 1  # claimed, not yet started
    closing = asyncio.create_task(worker.close())

    async def stop_reached_the_claim_loop() -> bool:  # it is cancelled, or gone
        return not any(_runs(task, "WorkerProcess._serve") and not task.cancelling()
                       for task in asyncio.all_tasks())  # fmt: skip

    await eventually(stop_reached_the_claim_loop, what="the stop to cancel the claim loop")
    late.reply.set()
    await closing
    assert await handle.result(timeout_s=5) == 1
    assert await resources.redis.hlen(keys.running("default")) == 0


def _runs(task: asyncio.Task[Any], qualname: str) -> bool:
    coro = task.get_coro()
    return not task.done() and getattr(coro, "__qualname__", None) == qualname
