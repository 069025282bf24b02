"""Process helpers for the embedded servers: liveness, ports, stopping, running as a service user."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from voicepipe.errors import ServerError
from voicepipe.settings import server_environment

SERVICE_USER = "voicepipe"


def process_matches(pid: int, name_part: str) -> bool:
    """True if `pid` is alive (not a zombie) and its executable name contains `name_part`."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return bool(
            name_part in proc.name() or any(name_part in part for part in proc.cmdline()[:1])
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def read_int(path: Path) -> int | None:
    """The integer a pidfile or portfile holds, or None if it is missing or garbled."""
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def port_is_free(host: str, port: int) -> bool:
    """True if nothing listens on `port`. Half-closed sockets of a killed server do not count:
    servers bind with SO_REUSEADDR, so such a port can be reused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        if sock.connect_ex((host, port)) != 0:
            return True
        # A port in the ephemeral range can "connect" to itself when nobody listens on it.
        return bool(sock.getsockname() == sock.getpeername())


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def choose_port(portfile: Path, wanted: int, setting: str, host: str = "127.0.0.1") -> int:
    """The wanted port, else the one used last time if it frees up, else a free one; remembered."""
    for candidate in (wanted, read_int(portfile)):
        if candidate and _frees_up(host, candidate):
            portfile.write_text(str(candidate))
            return candidate
    if wanted:
        raise ServerError(f"{setting}={wanted} is in use by another program")
    port = free_port(host)
    portfile.write_text(str(port))
    return port


def _frees_up(host: str, port: int, timeout_s: float = 3.0) -> bool:
    """True if `port` is free now or within `timeout_s`: a server killed a moment ago keeps
    accepting connections until the kernel has finished tearing it down."""
    deadline = time.monotonic() + timeout_s
    while not port_is_free(host, port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    delay_s = 0.01
    while not predicate():
        if time.monotonic() > deadline:
            raise ServerError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(delay_s)
        delay_s = min(delay_s * 2, 0.2)


def stop_process(pid: int, timeout_s: float, sig: int = signal.SIGTERM) -> None:
    """Send `sig`, wait up to `timeout_s`, then SIGKILL; returns when the process is gone."""
    try:
        proc = psutil.Process(pid)
        proc.send_signal(sig)
        proc.wait(timeout_s)
    except psutil.TimeoutExpired:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
            proc.wait(5)
    except psutil.NoSuchProcess:
        pass


def start_daemon(
    argv: list[str], log_path: Path, cwd: Path, user: str | None, env: dict[str, str] | None = None
) -> None:
    """Start a server as a daemon: own session, parent init, outliving the command that started it.

    `setsid --fork` forks once more and exits, so the server is never our child: whoever stops it
    later (another command) sees it vanish instead of lingering as our zombie. Its pid is read
    from the pidfile the server writes itself.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        subprocess.run(
            ["setsid", "--fork", *argv],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**server_environment(), **(env or {})},
            **run_as(user),
        )


def run_as(user: str | None) -> dict[str, Any]:
    """subprocess arguments that drop to `user` entirely: uid, gid and no root supplementary groups."""
    if user is None:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def service_user() -> str | None:
    """The unprivileged user servers run as when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SERVICE_USER


def give_to(user: str | None, *paths: Path) -> None:
    """Let `user` own `paths` and traverse every directory above them."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for path in paths:
        for sub in [path, *path.rglob("*")]:
            os.chown(sub, entry.pw_uid, entry.pw_gid)
        for parent in path.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                # Search-only permission: the service user can pass through, not list.
                parent.chmod(mode | 0o001)
