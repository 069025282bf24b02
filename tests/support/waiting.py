"""Waiting with a deadline instead of sleeping: `eventually(predicate, timeout_s)`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], timeout_s: float = 10.0, what: str = "condition"
) -> T:
    """Await `probe()` until it returns something truthy; fail with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    delay_s = 0.005
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(delay_s)
        delay_s = min(delay_s * 2, 0.1)


def eventually_sync(probe: Callable[[], T], timeout_s: float = 10.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout_s
    delay_s = 0.005
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(delay_s)
        delay_s = min(delay_s * 2, 0.1)
