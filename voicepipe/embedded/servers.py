"""Shared use of the embedded servers: start on first use, reuse while any command uses them, stop after the last.

Every command that needs the servers takes a lease (a file named after its pid and start time under
`run/leases`). Taking and dropping leases happens under an exclusive file lock. A lease whose
process is gone (kill -9) is ignored and removed, so a crashed command never keeps servers alive
and never blocks the next start.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import psutil

from voicepipe.embedded.postgres import EmbeddedPostgres
from voicepipe.embedded.valkey import EmbeddedValkey
from voicepipe.settings import Settings

log = logging.getLogger(__name__)


class EmbeddedServers:
    """The Valkey and PostgreSQL servers of one VOICEPIPE_HOME."""

    def __init__(self, home: Path, redis_port: int = 0, postgres_port: int = 0) -> None:
        self.home = home
        self.valkey = EmbeddedValkey(home / "valkey", redis_port)
        self.postgres = EmbeddedPostgres(home / "postgres", postgres_port)
        self.run_dir = home / "run"
        self.leases = self.run_dir / "leases"

    def acquire(self, need_redis: bool, need_postgres: bool) -> None:
        """Make sure the needed servers run and record this process as one of their users."""
        with self._locked():
            if need_redis:
                self.valkey.start()
            if need_postgres:
                self.postgres.start()
            self._lease_path(os.getpid()).write_text(_start_time(os.getpid()))

    def release(self) -> None:
        """Drop this process's lease; stop the servers if no live process holds one."""
        with self._locked():
            self._lease_path(os.getpid()).unlink(missing_ok=True)
            if self.live_leases():
                log.info(
                    "embedded servers left running for %d other command(s)", len(self.live_leases())
                )
                return
            self.valkey.stop()
            self.postgres.stop()

    def live_leases(self) -> list[int]:
        alive = []
        for path in self.leases.glob("*"):
            pid = int(path.name)
            if _start_time(pid) == path.read_text():
                alive.append(pid)
            else:
                path.unlink(missing_ok=True)
        return alive

    def _lease_path(self, pid: int) -> Path:
        return self.leases / str(pid)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.leases.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "servers.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _start_time(pid: int) -> str:
    """Identifies a process across pid reuse."""
    try:
        return repr(psutil.Process(pid).create_time())
    except psutil.NoSuchProcess:
        return ""


@contextlib.contextmanager
def servers_for(settings: Settings) -> Iterator[Settings]:
    """Settings whose REDIS_URL and DATABASE_URL point at real servers, embedded ones if unset."""
    need_redis = settings.redis_url is None
    need_postgres = settings.database_url is None
    if not (need_redis or need_postgres):
        yield settings
        return
    servers = EmbeddedServers(settings.home_dir, settings.redis_port, settings.postgres_port)
    servers.acquire(need_redis, need_postgres)
    try:
        yield settings.model_copy(
            update={
                "redis_url": settings.redis_url or servers.valkey.url,
                "database_url": settings.database_url or servers.postgres.url,
            }
        )
    finally:
        servers.release()
