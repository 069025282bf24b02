"""`voicepipe up` end to end, as a new user runs it: healthy, pings, stops clean, restarts, survives kill -9."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.support.processes import processes_using, run_voicepipe, start_voicepipe, voicepipe_env
from tests.support.waiting import eventually
from voicepipe.embedded.procs import free_port
from voicepipe.embedded.servers import EmbeddedServers
from voicepipe.services.accounts import hash_token

pytestmark = pytest.mark.slow


async def _healthy(port: int) -> dict[str, object] | None:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http,
            http.get(f"http://127.0.0.1:{port}/health") as response,
        ):
            body: dict[str, object] = await response.json()
            return body if response.status == 200 and body.get("workers") == 1 else None
    except (TimeoutError, aiohttp.ClientError):
        return None


async def _web_gone(port: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http,
            http.get(f"http://127.0.0.1:{port}/health"),
        ):
            return False
    except (TimeoutError, aiohttp.ClientError):
        return True


async def _stop(up: subprocess.Popen[bytes], sig: int) -> float:
    started = time.monotonic()
    up.send_signal(sig)
    await asyncio.to_thread(up.wait, 30)
    return time.monotonic() - started


async def _admin_token_works(home: Path, log: Path) -> bool:
    text = await asyncio.to_thread(log.read_text)
    token = next(line.split()[-1] for line in text.splitlines() if "API token:" in line)
    conn = await asyncpg.connect(EmbeddedServers(home).postgres.url)
    try:
        role = await conn.fetchval(
            "SELECT u.role FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
            hash_token(token),
        )
    finally:
        await conn.close()
    return bool(role == "admin")


async def test_up_runs_pings_stops_and_restarts(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    env = voicepipe_env(home)
    first_log = tmp_path / "up1.log"
    up = start_voicepipe("up", "--port", str(port), env=env, log=first_log)
    try:
        health = await eventually(
            lambda: _healthy(port), timeout_s=90, what="/health 200 with a worker"
        )
        assert health["redis"] == {"status": "ok", "latency_ms": health["redis"]["latency_ms"]}  # type: ignore[index]
        assert "Created the first admin account" in first_log.read_text()
        assert await _admin_token_works(home, first_log)

        pinged = await asyncio.to_thread(run_voicepipe, "ping", "--queue", "maintenance", env=env)
        assert pinged.returncode == 0, pinged.stderr
        assert json.loads(pinged.stdout.splitlines()[-1])["queue"] == "maintenance"

        assert await _stop(up, signal.SIGTERM) < 15
        assert up.returncode == 0, first_log.read_text()[-2000:]
        assert processes_using(home) == []
    finally:
        if up.poll() is None:
            up.kill()

    # Second run: the same data, no second admin; then kill -9 the supervisor.
    second_log = tmp_path / "up2.log"
    up = start_voicepipe("up", "--port", str(port), env=env, log=second_log)
    await eventually(lambda: _healthy(port), timeout_s=90, what="/health after restart")
    assert "Created the first admin account" not in second_log.read_text()
    up.kill()
    up.wait()
    await eventually(
        lambda: _web_gone(port), timeout_s=15, what="web and worker to die with their parent"
    )

    # Third run after kill -9: starts cleanly on the stale servers, stops everything on Ctrl-C.
    third_log = tmp_path / "up3.log"
    up = start_voicepipe("up", "--port", str(port), env=env, log=third_log)
    try:
        await eventually(lambda: _healthy(port), timeout_s=90, what="/health after kill -9")
        assert "in use" not in third_log.read_text()
        assert await _stop(up, signal.SIGINT) < 15
        assert processes_using(home) == []
    finally:
        if up.poll() is None:
            up.kill()
