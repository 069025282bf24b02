"""restart_workers against real `voicepipe worker` processes: each restarts gracefully, supervised."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

from tests.support.processes import start_voicepipe, stop, voicepipe_env
from tests.support.waiting import eventually
from voicepipe.engine.heartbeats import get_workers
from voicepipe.resources import Resources
from voicepipe.services import control
from voicepipe.settings import Settings
from voicepipe.tasks.ping import ping


async def test_restart_workers_restarts_each_worker_and_its_supervisor_brings_it_back(
    settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    env = voicepipe_env(
        tmp_path, REDIS_URL=str(settings.redis_url), DATABASE_URL=str(settings.database_url)
    )
    supervisors = [
        start_voicepipe("worker", "--queues", "default", env=env, log=tmp_path / f"w{i}.log")
        for i in range(2)
    ]
    try:

        async def two_workers() -> list[str]:
            ids = sorted(w["id"] for w in await get_workers(resources.redis))
            return ids if len(ids) == 2 else []

        before = await eventually(two_workers, timeout_s=60, what="two workers")
        pids = [int(worker_id.split(":")[1]) for worker_id in before]
        # the worker processes run at a lower CPU priority than their supervisors (and servers)
        assert {psutil.Process(pid).nice() for pid in pids} == {os.nice(0) + settings.worker_nice}
        assert await control.restart_workers(resources) == before

        async def replaced() -> list[str]:
            ids = await two_workers()
            return ids if ids and not set(ids) & set(before) else []

        after = await eventually(replaced, timeout_s=60, what="two new workers")
        old_pids = {int(worker_id.split(":")[1]) for worker_id in before}
        assert not any(psutil.pid_exists(pid) and _not_zombie(pid) for pid in old_pids)
        assert all(s.poll() is None for s in supervisors)  # the supervisors stayed
        handle = await ping.enqueue(resources, payload="after restart")
        result = await handle.result(timeout_s=30)
        assert result["worker"] in after
        logs = "".join((tmp_path / f"w{i}.log").read_text() for i in range(2))
        assert "restart requested by an admin" in logs and "worker restarting as asked" in logs
    finally:
        for supervisor in supervisors:
            stop(supervisor)


def _not_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
