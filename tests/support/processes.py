"""Running voicepipe commands as real processes, and finding what they left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil


def voicepipe_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    # alerts are evaluated by the tests that check them, not by every process a test starts
    return {**env, "VOICEPIPE_HOME": str(home), "VOICEPIPE_ALERT_EVALUATE_S": "0", **extra}


def run_voicepipe(
    *args: str, env: dict[str, str], timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voicepipe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def start_voicepipe(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "voicepipe", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """SIGTERM, wait for it to exit, SIGKILL it if it will not (and reap it either way)."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def processes_using(home: Path) -> list[psutil.Process]:
    """Every live process whose command line, working directory or VOICEPIPE_HOME mentions `home`."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "environ"]):
        try:
            mentions = (
                str(home) in " ".join(proc.info["cmdline"] or [])
                or str(home) in (proc.info["cwd"] or "")
                or (proc.info["environ"] or {}).get("VOICEPIPE_HOME") == str(home)
            )
            if mentions and proc.pid != os.getpid() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found
