"""Riding out a Redis restart: state changes that must not be lost are retried until Redis is back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

T = TypeVar("T")

# What Redis going away looks like (BusyLoadingError, while it reloads its append-only file, is a
# ConnectionError too).
REDIS_DOWN: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
# A job's outcome is kept in memory this long while Redis is unreachable; after that the write
# fails and the job runs again once its running entry is found orphaned.
OUTAGE_MAX_S = 300.0
RETRY_MIN_S = 0.05
RETRY_MAX_S = 1.0


async def persist(what: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run `attempt()` until Redis answers it, for up to OUTAGE_MAX_S; other errors pass through.

    `attempt` must be safe to run twice: a reply lost in a restart does not tell whether it ran.
    """
    deadline = time.monotonic() + OUTAGE_MAX_S
    delay_s = RETRY_MIN_S
    warned = False
    while True:
        try:
            result = await attempt()
        except REDIS_DOWN as exc:
            if time.monotonic() > deadline:
                raise
            if not warned:
                log.warning("%s: Redis unreachable (%s); retrying until it is back", what, exc)
                warned = True
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, RETRY_MAX_S)
            continue
        if warned:
            log.info("%s: Redis is back", what)
        return result
