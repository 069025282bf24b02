"""Soft time limits: throw SoftTimeLimitExceeded into a running coroutine at its next await point.

asyncio can only cancel a task, which raises a bare CancelledError in the job's code. To let jobs
`except SoftTimeLimitExceeded:` (and to tell a soft limit from a shutdown), the job's coroutine is
driven through `Interruptible`, which forwards every value and exception like `yield from` does but
swaps the cancellation it was asked to deliver for the exception it was given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any


class Interruptible:
    """An awaitable around `coro` whose next cancellation can be replaced by another exception."""

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._coro = coro
        self._replacement: BaseException | None = None
        self._task: asyncio.Task[Any] | None = None

    def interrupt(self, exc: BaseException) -> None:
        """Deliver `exc` at the coroutine's current await point (via the task's cancellation)."""
        if self._task is None or self._task.done():
            return
        self._replacement = exc
        self._task.cancel()

    def __await__(self) -> Generator[Any, Any, Any]:
        self._task = asyncio.current_task()
        coro = self._coro
        send_value: Any = None
        to_throw: BaseException | None = None
        while True:
            try:
                yielded = coro.send(send_value) if to_throw is None else coro.throw(to_throw)
            except StopIteration as stop:
                return stop.value
            try:
                send_value, to_throw = (yield yielded), None
            except asyncio.CancelledError as cancelled:
                send_value, to_throw = None, cancelled
                if self._replacement is not None:
                    to_throw, self._replacement = self._replacement, None
                    if self._task is not None:
                        self._task.uncancel()  # the cancellation became our exception
            except BaseException as exc:
                send_value, to_throw = None, exc
