"""Job rules that need no I/O: statuses, priorities, queue ranks and retry backoff."""

from __future__ import annotations

import random
from enum import IntEnum, StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    STARTED = "started"
    RETRY = "retry"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELLED})


class JobPriority(IntEnum):
    LOW = 0
    NORMAL = 1
    HIGH = 2
    CRITICAL = 3


def ready_rank_ms(priority: int, ready_at_ms: int, aging_ms: int) -> int:
    """A job's place in its queue: lower runs first.

    Each priority level is worth `aging_ms` of waiting. A HIGH job goes ahead of every NORMAL job
    that became ready less than `aging_ms` before it, and a LOW job is overtaken only by jobs that
    became ready less than 3 x `aging_ms` after it: no job starves for longer than that.
    """
    return ready_at_ms - priority * aging_ms


def backoff_delay_s(
    failed_try: int,
    base_s: float,
    max_s: float,
    jitter: bool = True,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before the next try: base x 2^(try-1), capped, with full jitter.

    Full jitter (a uniform pick in [0, capped delay]) spreads a burst of failing jobs out instead
    of retrying them in lockstep.
    """
    capped = min(max_s, base_s * 2.0 ** max(failed_try - 1, 0))
    if not jitter:
        return capped
    return (rng or random).uniform(0, capped)
