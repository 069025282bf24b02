"""What the alert rules read: failures per task from PostgreSQL; queues, workers and the
recorder's backlog from Redis."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from voicepipe import keys
from voicepipe.db import alerts as alerts_db
from voicepipe.domain import alerts as rules
from voicepipe.domain.alerts import FAILURE_WINDOW_S, Reading, Thresholds
from voicepipe.domain.job_fold import parse_stream_id
from voicepipe.engine.heartbeats import get_workers
from voicepipe.resources import Resources
from voicepipe.settings import QUEUES

# Finding a queue's oldest job reads the ready jobs in rank order, this many per round trip and
# at most SCAN_MAX of them (see _oldest_ready_ms).
SCAN_PAGE = 100
SCAN_MAX = 1000


async def failure_rates(
    resources: Resources, now: datetime, thresholds: Thresholds
) -> list[Reading]:
    """One reading per task that finished jobs in the last FAILURE_WINDOW_S."""
    since = now - timedelta(seconds=FAILURE_WINDOW_S)
    outcomes = await alerts_db.outcomes_by_task(resources.db, since, now)
    return [rules.failure_rate(o.task, o.failed, o.finished, thresholds) for o in outcomes]


@dataclass(frozen=True)
class QueueWork:
    """What waits in one queue: ready jobs, deferred jobs past their due time (a worker's next
    claim makes them ready), and running entries."""

    queue: str
    ready: int
    due: int
    running: int
    oldest_ms: int | None  # when the job waiting longest became ready (or due)


async def queue_work(redis: Redis, now_ms: int, aging_ms: int) -> list[QueueWork]:
    """What waits in each queue as of `now_ms`."""
    async with redis.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            pipe.zcard(keys.queue(queue))
            pipe.zcount(keys.deferred(queue), "-inf", now_ms)
            pipe.zrange(keys.deferred(queue), 0, 0, withscores=True)
            pipe.hlen(keys.running(queue))
        replies = await pipe.execute()
    work = []
    for i, queue in enumerate(QUEUES):
        ready, due, first_deferred, running = replies[4 * i : 4 * i + 4]
        oldest = [await _oldest_ready_ms(redis, queue, aging_ms)] if ready else []
        if due:
            oldest.append(int(first_deferred[0][1]))
        known = [ms for ms in oldest if ms is not None]
        work.append(QueueWork(queue, ready, due, running, min(known) if known else None))
    return work


async def _oldest_ready_ms(redis: Redis, queue: str, aging_ms: int) -> int | None:
    """When the queue's longest-waiting ready job became ready.

    A ready job's score is its rank, became-ready ms minus priority x aging (domain.jobs
    ready_rank_ms), so the lowest-ranked job need not be the oldest: a HIGH job ranks ahead of
    NORMAL jobs that have waited longer. Read in rank order, each job's priority from its
    definition, until a rank is past the oldest ready time found (that job and all after it became
    ready later); with more than SCAN_MAX jobs ranked within 3 x aging of the first, the oldest of
    those first SCAN_MAX counts (a lower bound of the wait)."""
    oldest: int | None = None
    for start in range(0, SCAN_MAX, SCAN_PAGE):
        members = await redis.zrange(
            keys.queue(queue), start, start + SCAN_PAGE - 1, withscores=True
        )
        if not members:
            break
        definitions = await redis.mget([keys.job(member.decode()) for member, _ in members])
        for (_, rank), raw in zip(members, definitions, strict=True):
            if oldest is not None and rank > oldest:
                return oldest
            ready_ms = int(rank) + _priority(raw) * aging_ms
            oldest = ready_ms if oldest is None else min(oldest, ready_ms)
        if len(members) < SCAN_PAGE:
            break
    return oldest


def _priority(definition: bytes | None) -> int:
    """A job definition's priority; NORMAL (as the broker reads it) when it has none or is gone."""
    try:
        return int(json.loads(definition).get("p", 1)) if definition else 1
    except (ValueError, TypeError, AttributeError):
        return 1


def queue_readings(
    work: Sequence[QueueWork], workers: Sequence[dict[str, object]], now_ms: int,
    thresholds: Thresholds,
) -> list[Reading]:  # fmt: skip
    """Per queue: how long its oldest job has waited, and whether a live worker serves it."""
    readings = []
    for w in work:
        serving = sum(1 for worker in workers if w.queue in _queues_of(worker))
        wait_s = (now_ms - w.oldest_ms) / 1000 if w.oldest_ms is not None else None
        readings.append(rules.queue_age(w.queue, wait_s, w.ready + w.due, thresholds))
        # jobs left running by a lost worker wait too: no worker is there to release them
        stranded = w.running if serving == 0 else 0
        readings.append(rules.no_worker(w.queue, serving, w.ready + w.due + stranded))
    return readings


def _queues_of(worker: dict[str, object]) -> list[str]:
    queues = worker.get("queues")
    return [str(q) for q in queues] if isinstance(queues, list) else []


async def queues_and_workers(
    resources: Resources, now: datetime, thresholds: Thresholds
) -> list[Reading]:
    now_ms = int(now.timestamp() * 1000)
    aging_ms = int(resources.settings.priority_aging_s * 1000)
    work = await queue_work(resources.redis, now_ms, aging_ms)
    workers = await get_workers(resources.redis)
    return queue_readings(work, workers, now_ms, thresholds)


async def recorder_backlog(redis: Redis) -> tuple[int | None, int]:
    """The ms timestamp of the oldest event the recorders have not recorded (read but not yet
    acknowledged, or not read yet), and how many such events there are."""
    try:
        groups = await redis.xinfo_groups(keys.EVENTS)
    except ResponseError as exc:
        if "no such key" not in str(exc).lower():
            raise
        return None, 0  # no stream yet: no event was ever written
    group = next((g for g in groups if _text(g["name"]) == keys.RECORDERS), None)
    if group is None:  # no recorder ever ran: nothing is recorded
        first = await redis.xrange(keys.EVENTS, count=1)
        return (parse_stream_id(first[0][0])[0] if first else None), await redis.xlen(keys.EVENTS)
    pending = int(group["pending"])
    candidates = []
    if pending:
        oldest_pending = (await redis.xpending(keys.EVENTS, keys.RECORDERS))["min"]
        if oldest_pending is not None:
            candidates.append(parse_stream_id(oldest_pending)[0])
    delivered = _text(group["last-delivered-id"])
    unread = await redis.xrange(keys.EVENTS, min=f"({delivered}", count=1)
    if unread:
        candidates.append(parse_stream_id(unread[0][0])[0])
    lag = group.get("lag")  # entries not read yet; None when Redis cannot tell: then an upper bound
    not_read = int(lag) if lag is not None else await redis.xlen(keys.EVENTS) - pending
    return (min(candidates) if candidates else None), pending + (not_read if unread else 0)


async def recorder(resources: Resources, now: datetime, thresholds: Thresholds) -> list[Reading]:
    oldest_ms, unrecorded = await recorder_backlog(resources.redis)
    lag_s = now.timestamp() - oldest_ms / 1000 if oldest_ms is not None else None
    return [rules.recorder_lag(lag_s, unrecorded, thresholds)]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
