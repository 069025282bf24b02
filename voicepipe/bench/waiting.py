"""What every benchmark needs: waiting for a condition, and percentiles of samples."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def until(
    probe: Callable[[], Awaitable[bool]], timeout_s: float, what: str, every_s: float = 0.02
) -> None:
    """Ask `probe` every `every_s` until it says yes; TimeoutError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not await probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(every_s)


def percentile(values: list[float], pct: float) -> float:
    """The sample at `pct` percent of the sorted values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]
