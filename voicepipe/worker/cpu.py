"""A bounded pool of CPU processes whose children can be killed one job at a time.

concurrent.futures' ProcessPoolExecutor cannot stop one running call (killing a child breaks the
whole pool), but a hard time limit or a terminate must stop exactly one job's work. Here each call
takes an idle child for itself; killing a job kills only its children, and the pool replaces them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from voicepipe.errors import JobCancelled

log = logging.getLogger(__name__)


def _serve(conn: Connection) -> None:
    """Child main loop: run each (fn, args) it is sent, answer (ok, value)."""
    while True:
        try:
            fn, args = conn.recv()
        except EOFError:
            return
        try:
            conn.send((True, fn(*args)))
        except BaseException as exc:
            conn.send((False, exc))


class _Child:
    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self.conn, child_end = multiprocessing.Pipe()
        self.process: BaseProcess = context.Process(target=_serve, args=(child_end,), daemon=True)  # type: ignore[attr-defined]
        self.process.start()
        child_end.close()

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
        """Blocking: send the call and wait for (ok, value) (run in a thread)."""
        self.conn.send((fn, args))
        answer: tuple[bool, Any] = self.conn.recv()
        return answer

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class CpuPool:
    """At most `size` CPU calls at once across all jobs of a worker process."""

    def __init__(self, size: int, preload: tuple[str, ...] = ()) -> None:
        """`preload`: modules the fork server imports before it forks any child (one whose import
        warms up, e.g. compiles librosa's numba code): every child then starts warm, and the
        children share those pages instead of each holding its own copy. (The fork server is
        one per process: a preload given after it started is ignored, and a child pays for its
        first import itself.)"""
        self.size = size
        self.preload = preload
        self._context = multiprocessing.get_context("forkserver")
        if preload:
            self._context.set_forkserver_preload(list(preload))
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Child] = []
        self._by_owner: dict[str, set[_Child]] = {}

    def warm_up(self) -> None:
        """Start every child now, so the first job does not pay for process start-up."""
        while len(self._idle) < self.size:
            self._idle.append(_Child(self._context))

    async def run(self, owner: str, fn: Callable[..., Any], *args: Any) -> Any:
        async with self._slots:
            child = self._idle.pop() if self._idle else _Child(self._context)
            self._by_owner.setdefault(owner, set()).add(child)
            try:
                ok, value = await asyncio.to_thread(child.call, fn, args)
            except (EOFError, OSError) as exc:
                child.kill()
                raise JobCancelled("the job's CPU work was killed") from exc
            except BaseException:
                # Interrupted mid-call (cancelled, soft time limit): the child is still busy and its
                # answer would reach the next caller, so it goes.
                child.kill()
                raise
            finally:
                self._forget(owner, child)
            self._idle.append(child)
            if not ok:
                raise value
            return value

    def kill(self, owner: str) -> int:
        """Kill every child working for `owner`; returns how many."""
        children = self._by_owner.pop(owner, set())
        for child in children:
            child.kill()
        if children:
            log.info("killed %d CPU process(es) of job %s", len(children), owner)
        return len(children)

    def pids(self, owner: str) -> list[int]:
        return [c.process.pid for c in self._by_owner.get(owner, ()) if c.process.pid]

    def close(self) -> None:
        for child in [*self._idle, *(c for cs in self._by_owner.values() for c in cs)]:
            with contextlib.suppress(Exception):
                child.kill()
        self._idle.clear()
        self._by_owner.clear()

    def _forget(self, owner: str, child: _Child) -> None:
        owned = self._by_owner.get(owner)
        if owned is not None:
            owned.discard(child)
            if not owned:
                del self._by_owner[owner]
