"""CPU seconds of what does a benchmark's work: its worker processes, PostgreSQL and Valkey."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import psutil
from redis.asyncio import Redis

from voicepipe.embedded.servers import EmbeddedServers
from voicepipe.errors import ServerError
from voicepipe.settings import Settings

CpuReading = dict[str, float | None]  # seconds by group; None: a server not on this machine


def postgres_pid(settings: Settings) -> int | None:
    """The PostgreSQL postmaster's pid: the embedded server's from its pidfile, else whichever
    process on this machine listens on DATABASE_URL's port; None if it is elsewhere."""
    embedded = EmbeddedServers(settings.home_dir).postgres
    with contextlib.suppress(ServerError, FileNotFoundError):  # never started in this home
        if settings.database_url == embedded.url and (pid := embedded.running_pid()):
            return pid
    return _listening_pid(settings.database_url, 5432)


def _listening_pid(url: str | None, default_port: int) -> int | None:
    parts = urlsplit(url or "")
    if not parts.hostname or not _is_local(parts.hostname):
        return None
    port = parts.port or default_port
    with contextlib.suppress(psutil.AccessDenied):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr[1:2] == (port,) and conn.pid:
                return conn.pid
    return None


def _is_local(host: str) -> bool:
    try:
        resolved = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    own = {a.address for addrs in psutil.net_if_addrs().values() for a in addrs}
    return any(ipaddress.ip_address(a.split("%")[0]).is_loopback or a in own for a in resolved)


def tree_cpu_s(root: int, excluded: frozenset[int]) -> float:
    """User + system seconds of `root` and its descendants, those that exited included.

    A process's children_* times hold its children that have exited (and were waited for), so a
    backend that ends between two readings still counts, once: alive in the first, in its
    parent's children_* in the second.
    """
    try:
        procs = [psutil.Process(root)]
        procs += procs[0].children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        if proc.pid in excluded:
            continue
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


async def valkey_cpu_s(redis: Redis) -> float:
    """Valkey's own account (getrusage: every thread, and forked children such as an append-only
    file rewrite), to the microsecond and wherever the server runs."""
    info = await redis.info("cpu")
    return sum(float(info[f"used_cpu_{kind}"]) for kind in ("user", "sys", "user_children", "sys_children"))  # fmt: skip


@dataclass(frozen=True)
class CpuMeter:
    """Process trees by group ("workers", "postgres"; None for a server not here), and Valkey."""

    roots: dict[str, list[int] | None]
    valkey: Redis
    excluded: frozenset[int] = frozenset()  # the driver's own PostgreSQL backend

    async def read(self) -> CpuReading:
        reading: CpuReading = {
            group: None if pids is None else sum(tree_cpu_s(p, self.excluded) for p in pids)
            for group, pids in self.roots.items()
        }
        reading["valkey"] = await valkey_cpu_s(self.valkey)
        return reading


def used_s(start: CpuReading, end: CpuReading) -> CpuReading:
    """CPU seconds between two readings, by group."""
    used: CpuReading = {}
    for group, last in end.items():
        first = start[group]
        used[group] = None if last is None or first is None else last - first
    return used


def total_s(reading: CpuReading) -> float | None:
    """All groups added up; None if any is unknown (a partial sum would flatter its system)."""
    values = list(reading.values())
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)
