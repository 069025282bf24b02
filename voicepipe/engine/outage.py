"""Riding out Redis trouble: which errors mean "Redis cannot serve now", and waiting them out.

Redis can be unreachable (restarting, a lost network) or there and refusing: out of memory under
`maxmemory` with `noeviction` (writes refused, reads and deletes still served), a read-only
replica after a failover, loading its data after a restart, busy with a long script. Each loop
(claim, finish writer, heartbeat, reaper, cron, control, recorder) treats all of these alike: one
log line when the trouble starts, capped exponential waits, one line when it is over.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import BusyLoadingError, OutOfMemoryError, ReadOnlyError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

T = TypeVar("T")

# What Redis going away looks like (BusyLoadingError, while it reloads its append-only file, is a
# ConnectionError too).
REDIS_DOWN: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
# A job's outcome is kept in memory this long while Redis cannot take it; after that the write
# fails and the job runs again once its running entry is found orphaned.
OUTAGE_MAX_S = 300.0
RETRY_MIN_S = 0.05
RETRY_MAX_S = 1.0

# Refusals redis-py raises as a plain ResponseError, by their error code: a script running past
# busy-reply-threshold, a failed disk save (MISCONF refuses writes), a replica cut off from its
# primary, too few replicas for min-replicas-to-write, a blocked command ended by a role change.
_REFUSALS = {
    "BUSY": "Redis is busy running a long script",
    "MISCONF": "Redis cannot save to disk and refuses writes",
    "MASTERDOWN": "Redis is a replica that lost its primary",
    "NOREPLICAS": "Redis has too few replicas to accept writes",
    "UNBLOCKED": "Redis changed its role (a failover)",
}
# The code opens the reply; in a pipeline redis-py puts the failed command in front of it, and
# its asyncio client the reply as a tuple: "… of pipeline caused error: ('BUSY …',)".
_CODE = re.compile(r"(?:^|of pipeline caused error: \(?['\"]?)([A-Z]+)\b")


def redis_unavailable(exc: BaseException) -> str | None:
    """Why Redis cannot serve now, as a phrase for a log line or a 503; None when `exc` is not
    such an error (a bug, bad data: trying again would fail the same way)."""
    if isinstance(exc, OutOfMemoryError):
        return "Redis is out of memory (maxmemory reached, noeviction) and refuses writes"
    if isinstance(exc, ReadOnlyError):
        return "Redis is a read-only replica (after a failover?) and refuses writes"
    if isinstance(exc, BusyLoadingError):
        return "Redis is loading its data"
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return "Redis is unreachable"
    if isinstance(exc, OSError):
        return "a connection failed"  # raised by redis-py unwrapped now and then
    if isinstance(exc, ResponseError):
        match = _CODE.search(str(exc))
        return _REFUSALS.get(match.group(1)) if match else None
    return None


class Backoff:
    """A loop's trouble with Redis (or PostgreSQL): a warning when it starts or its cause changes,
    not one per try; a line when it is over; capped exponential waits in between."""

    def __init__(
        self,
        what: str,
        min_s: float = RETRY_MIN_S,
        max_s: float = RETRY_MAX_S,
        logger: logging.Logger = log,
    ) -> None:
        self.what = what
        self.min_s = min_s
        self.max_s = max_s
        self.log = logger
        self.cause: str | None = None  # set while in trouble
        self.failures = 0  # tries failed in a row
        self._since = 0.0
        self._wait_s = min_s

    def failed(self, exc: BaseException) -> float:
        """Note a failed try; returns how long to wait before the next one."""
        reason = redis_unavailable(exc)
        cause = reason or type(exc).__name__
        detail = f"{type(exc).__name__}: {exc}"
        if self.cause is None:
            self._since = time.monotonic()
        if cause != self.cause:
            self.log.warning("%s: %s (%s); retrying until it works", self.what,
                             reason or "failed", detail, stacklevel=2)  # fmt: skip
            self.cause = cause
        self.failures += 1
        wait_s = self._wait_s
        self._wait_s = min(wait_s * 2, self.max_s)
        return wait_s

    def succeeded(self) -> None:
        """Note a try that worked: the trouble, if any, is over."""
        if self.cause is not None:
            self.log.info("%s: working again after %.1fs (%d failed tries)", self.what,
                          time.monotonic() - self._since, self.failures, stacklevel=2)  # fmt: skip
        self.cause = None
        self.failures = 0
        self._wait_s = self.min_s


async def persist(what: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run `attempt()` until Redis takes it, for up to OUTAGE_MAX_S while Redis is unreachable or
    refusing (redis_unavailable); other errors pass through.

    `attempt` must be safe to run twice: a reply lost in a restart does not tell whether it ran.
    """
    deadline = time.monotonic() + OUTAGE_MAX_S
    trouble = Backoff(what)
    while True:
        try:
            result = await attempt()
        except Exception as exc:
            if redis_unavailable(exc) is None or time.monotonic() > deadline:
                raise
            await asyncio.sleep(trouble.failed(exc))
            continue
        trouble.succeeded()
        return result
