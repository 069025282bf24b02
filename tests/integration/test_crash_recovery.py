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
from tests.support.processes import start_voicepipe, voicepipe_env
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.engine import heartbeats
from voicepipe.engine.running import running_entries
from voicepipe.resources import Resources
from voicepipe.settings import Settings
from voicepipe.tasks.chaos import chaos_nap

# Heartbeat expiry (4 s) + a reaper scan (0.5 s) + pickup, with room for a slow machine.
RECOVERY_BOUND_S = 8.0


@pytest.fixture
def two_workers(settings: Settings, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = voicepipe_env(
        tmp_path / "home", REDIS_URL=str(settings.redis_url),
        DATABASE_URL=str(settings.database_url), VOICEPIPE_CPU_WORKERS="1",
    )  # fmt: skip
    procs = [
        start_voicepipe("worker", "--queues", "default", "--concurrency", "2", env=env,
                        log=tmp_path / f"worker-{n}.log")
        for n in range(2)
    ]  # fmt: skip
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(30)  # reaps the killed one too


async def test_kill_9_reruns_the_job_on_the_other_worker(
    resources: Resources, two_workers: list[subprocess.Popen[bytes]]
) -> None:
    redis = resources.redis
    await eventually(
        lambda: _n_live(resources, 2), timeout_s=30, what="two worker processes to beat"
    )
    handle = await chaos_nap.enqueue(resources, seconds=2.0, run_id="crash")
    entries = await eventually(
        lambda: running_entries(resources.redis, ["default"]), what="the job to start"
    )
    first_worker = entries[0].worker
    victim = next(w for w in await heartbeats.get_workers(redis) if w["id"] == first_worker)
    # `voicepipe worker` supervises its worker process: the victim is one of those children.
    assert psutil.Process(victim["pid"]).ppid() in {p.pid for p in two_workers}
    os.kill(victim["pid"], signal.SIGKILL)
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


async def _n_live(resources: Resources, n: int) -> bool:
    return len(await heartbeats.live_worker_ids(resources.redis)) == n
