"""Real `voicepipe worker` processes (each a supervisor and its worker child) for crash and stall tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import start_voicepipe, stop, voicepipe_env
from voicepipe.engine import heartbeats
from voicepipe.resources import Resources
from voicepipe.settings import Settings


@contextmanager
def worker_processes(
    settings: Settings, tmp_path: Path, n: int, concurrency: int | None = 2, **extra_env: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`n` supervised workers serving `default` (`concurrency` None: the settings' default),
    stopped with SIGTERM at the end."""
    env = voicepipe_env(
        tmp_path / "home", REDIS_URL=str(settings.redis_url),
        DATABASE_URL=str(settings.database_url), VOICEPIPE_CPU_WORKERS="1", **extra_env,
    )  # fmt: skip
    options = [] if concurrency is None else ["--concurrency", str(concurrency)]
    procs = [
        start_voicepipe("worker", "--queues", "default", *options, env=env,
                        log=tmp_path / f"worker-{i}.log")
        for i in range(n)
    ]  # fmt: skip
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            stop(proc)  # reaps a killed one too


async def n_live(resources: Resources, n: int) -> bool:
    return len(await heartbeats.live_worker_ids(resources.redis)) == n


async def worker_pid(resources: Resources, worker_id: str) -> int:
    """The pid of the worker process (the supervisor's child) that writes `worker_id`'s heartbeat."""
    found = [
        w["pid"] for w in await heartbeats.get_workers(resources.redis) if w["id"] == worker_id
    ]
    assert found, f"no heartbeat of worker {worker_id}"
    return int(found[0])
