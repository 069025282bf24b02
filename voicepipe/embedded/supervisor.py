"""Runs child processes, restarts any that die, and stops them all on request.

Each child is told, in its environment, how often it was restarted and why its previous process
ended (VOICEPIPE_WORKER_RESTARTS, VOICEPIPE_WORKER_LAST_EXIT); a worker shows both in its heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import sys
import time
from dataclasses import dataclass, field

from voicepipe.settings import env_name

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
MAX_BACKOFF_S = 30.0
HEALTHY_AFTER_S = 60.0
# A child exiting with one of these codes asks to be started again at once, and says why: an
# admin restart (75, EX_TEMPFAIL) or a worker past its job or memory limit (voicepipe.worker.recycle).
RESTART_EXIT_CODE = 75
RESTART_EXIT_CODES = {RESTART_EXIT_CODE: "admin restart", 76: "max jobs", 77: "max memory"}


def restart_exit_code(reason: str) -> int:
    """The exit code that asks for a restart at once for `reason` (an admin restart's if unknown)."""
    codes = {why: code for code, why in RESTART_EXIT_CODES.items()}
    return codes.get(reason, RESTART_EXIT_CODE)


def exit_reason(code: int) -> str:
    """Why a child that exited with `code` (negative: killed by that signal) ended."""
    if code in RESTART_EXIT_CODES:
        return RESTART_EXIT_CODES[code]
    if code < 0:
        try:
            return f"crashed (killed by {signal.Signals(-code).name})"
        except ValueError:
            return f"crashed (killed by signal {-code})"
    return f"crashed (exit code {code})" if code else "exited"


def _die_with_parent() -> None:
    # If the supervisor is killed with -9 it cannot stop its children; the kernel does it for us.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """One supervised command line (e.g. `voicepipe web`)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    last_exit: str | None = None  # why the previous process ended
    started_at: float = 0.0
    backoff_s: float = field(default=1.0)

    async def start(self) -> None:
        env = {**self.env, env_name("worker_restarts"): str(self.restarts)}
        env.pop(env_name("worker_last_exit"), None)
        if self.last_exit is not None:
            env[env_name("worker_last_exit")] = self.last_exit
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, env=env, stdin=asyncio.subprocess.DEVNULL, preexec_fn=_die_with_parent
        )
        self.started_at = time.monotonic()
        log.info("started %s (pid %s)", self.name, self.process.pid)


def voicepipe_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "voicepipe", *args]


class Supervisor:
    """Keeps every child running until `stop` is set; then SIGTERM, wait, SIGKILL."""

    def __init__(self, children: list[Child], stop_timeout_s: float) -> None:
        self.children = children
        self.stop_timeout_s = stop_timeout_s

    async def run(self, stop: asyncio.Event) -> None:
        for child in self.children:
            await child.start()
        watchers = {asyncio.create_task(self._wait(child)): child for child in self.children}
        stopper = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                done, _ = await asyncio.wait(
                    [stopper, *watchers], return_when=asyncio.FIRST_COMPLETED
                )
                for task in done - {stopper}:
                    child = watchers.pop(task)
                    if stop.is_set():
                        break
                    await self._restart_later(child, task.result(), stop)
                    if not stop.is_set():
                        watchers[asyncio.create_task(self._wait(child))] = child
        finally:
            stopper.cancel()
            for task in watchers:
                task.cancel()
            await self.stop_all()

    async def _wait(self, child: Child) -> int:
        assert child.process is not None
        return await child.process.wait()

    async def _restart_later(self, child: Child, code: int, stop: asyncio.Event) -> None:
        child.last_exit = exit_reason(code)
        if code in RESTART_EXIT_CODES:
            log.info("%s restarting as asked (%s)", child.name, child.last_exit)
            child.restarts += 1
            await child.start()
            return
        if time.monotonic() - child.started_at > HEALTHY_AFTER_S:
            child.backoff_s = 1.0
        log.warning(
            "%s exited with code %s; restarting in %.0fs", child.name, code, child.backoff_s
        )
        try:
            await asyncio.wait_for(stop.wait(), child.backoff_s)
            return  # asked to stop while waiting
        except TimeoutError:
            pass
        child.backoff_s = min(child.backoff_s * 2, MAX_BACKOFF_S)
        child.restarts += 1
        await child.start()

    async def stop_all(self) -> None:
        running = [c for c in self.children if c.process and c.process.returncode is None]
        for child in running:
            assert child.process is not None
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
        waits = [asyncio.create_task(c.process.wait()) for c in running if c.process]
        if not waits:
            return
        _, late = await asyncio.wait(waits, timeout=self.stop_timeout_s)
        for child in running:
            if child.process and child.process.returncode is None:
                log.warning("%s did not stop in %.0fs; killing it", child.name, self.stop_timeout_s)
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
        if late:
            await asyncio.gather(*late, return_exceptions=True)
        log.info("all children stopped")
