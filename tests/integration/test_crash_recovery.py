"""A real worker process killed with -9 in the middle of a job: the other worker reruns it at once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.engine import job_events
from tests.support.waiting import eventually
from tests.support.workers import n_live, worker_pid, worker_processes
from voicepipe import keys
from voicepipe.engine.running import running_entries
from voicepipe.resources import Resources
from voicepipe.settings import Settings
from voicepipe.tasks.chaos import chaos_nap

# Heartbeat expiry (4 s) + a reaper scan (0.5 s) + pickup, with room for a slow machine.
RECOVERY_BOUND_S = 8.0


@pytest.fixture
def two_workers(settings: Settings, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    with worker_processes(settings, tmp_path, 2) as procs:
        yield procs


async def test_kill_9_reruns_the_job_on_the_other_worker(
    resources: Resources, two_workers: list[subprocess.Popen[bytes]]
) -> None:
    redis = resources.redis
    await eventually(
        lambda: n_live(resources, 2), timeout_s=30, what="two worker processes to beat"
    )
    handle = await chaos_nap.enqueue(resources, seconds=2.0, run_id="crash")
    entries = await eventually(
        lambda: running_entries(resources.redis, ["default"]), what="the job to be claimed"
    )
    # killed once its body has begun (a claim is not yet a run: under load it may not have)
    await eventually(
        lambda: redis.hget(keys.chaos_runs("crash"), handle.job_id), what="its nap to start"
    )
    first_worker = entries[0].worker
    victim = await worker_pid(resources, first_worker)
    # `voicepipe worker` supervises its worker process: the victim is one of those children.
    assert psutil.Process(victim).ppid() in {p.pid for p in two_workers}
    os.kill(victim, signal.SIGKILL)
    killed_at = time.time()

    async def started_elsewhere() -> str | None:
        again = await running_entries(resources.redis, ["default"])
        return again[0].worker if again and again[0].worker != first_worker else None

    second_worker = await eventually(
        started_elsewhere, timeout_s=RECOVERY_BOUND_S, what="the job to start on the other worker"
    )
    assert (await handle.result(timeout_s=10))["try"] == 2
    events = await job_events(resources, handle.job_id)
    assert [(e["event"], e["try"], e["worker"]) for e in events] == [
        ("queued", 1, None),
        ("started", 1, first_worker),
        ("retry", 1, first_worker),
        ("started", 2, second_worker),
        ("success", 2, second_worker),
    ]
    # Released by whichever live reaper came first (the respawned worker's, maybe).
    assert events[2]["orphaned"] is True and events[2]["released_by"] != first_worker
    assert events[3]["at"] - killed_at < RECOVERY_BOUND_S
    assert (
        await redis.hget(keys.chaos_runs("crash"), handle.job_id) == b"2"
    )  # ran twice: at least once
