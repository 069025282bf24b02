"""The monitoring service: job history from PostgreSQL, what is live from Redis.

History (job info after the arq result expired, lists, the dead-letter view, statistics) comes
from the rows the recorder folds; what runs or waits right now (running jobs, deferred jobs,
queue lengths) comes from the queue structures in Redis (see voicepipe.keys).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.connections import ArqRedis

from voicepipe import keys
from voicepipe.db import dead_letter as dead_letter_db
from voicepipe.db import job_lists, job_rollups, job_stats
from voicepipe.db import jobs as jobs_db
from voicepipe.domain.histogram import quantiles
from voicepipe.domain.job_info import (
    JobEvent,
    JobFilters,
    JobInfo,
    JobPage,
    PageRequest,
    decode_cursor,
    encode_cursor,
)
from voicepipe.domain.job_views import (
    ActiveJob,
    CronEntry,
    Percentiles,
    QueueLength,
    ScheduledJob,
    ScheduledJobs,
    Statistics,
    ThroughputPoint,
    bucket_seconds,
    parse_window,
)
from voicepipe.domain.jobs import JobStatus
from voicepipe.engine.running import running_entries
from voicepipe.resources import Resources
from voicepipe.settings import QUEUES


async def get_job_info(resources: Resources, job_id: str) -> JobInfo | None:
    """The job's recorded state, or None if no event of it was recorded (yet)."""
    return await jobs_db.job_by_id(resources.db, job_id)


async def get_job_timeline(resources: Resources, job_id: str) -> list[JobEvent]:
    """The job's lifecycle events in the order they happened (progress excepted)."""
    return await jobs_db.timeline(resources.db, job_id)


async def list_jobs(
    resources: Resources, filters: JobFilters | None = None, page: PageRequest | None = None
) -> JobPage:
    """Jobs matching `filters`, newest first, one page at a time."""
    page = page or PageRequest()
    after = decode_cursor(page.cursor) if page.cursor else None
    rows = await job_lists.list_jobs(resources.db, filters or JobFilters(), page.limit + 1, after)
    items = rows[: page.limit]
    more = len(rows) > page.limit
    cursor = encode_cursor(items[-1].created_at, items[-1].task_id) if more else None
    return JobPage(items=items, next_cursor=cursor)


async def get_failed_tasks(
    resources: Resources,
    page: PageRequest | None = None,
    owner_id: int | None = None,
    filters: JobFilters | None = None,
) -> JobPage:
    """The dead-letter view: jobs that failed for good and were not retried, newest failure
    first, with their errors (narrowed by queue, task, search and `owner_id` when given).

    A job retried a moment ago is left out although its rerun is not recorded yet (the history
    learns of it from the rerun's queued event): whoever just pressed "retry" sees it gone."""
    page = page or PageRequest()
    after = decode_cursor(page.cursor) if page.cursor else None
    wanted = (filters or JobFilters()).model_copy(update={"owner_id": owner_id})
    rows = await dead_letter_db.failed_page(resources.db, wanted, page.limit + 1, after)
    items = rows[: page.limit]
    last = items[-1] if len(rows) > page.limit else None
    cursor = encode_cursor(last.completed_at, last.task_id) if last and last.completed_at else None
    retried = await _retried(resources, [job.task_id for job in items])
    return JobPage(items=[job for job in items if job.task_id not in retried], next_cursor=cursor)


async def count_failed(resources: Resources, filters: JobFilters, up_to: int) -> int:
    """How many dead-letter jobs match `filters`, counted up to `up_to` + 1 (more than `up_to`
    reads as "more than"): a bounded read however large the dead letter grows."""
    ids = await dead_letter_db.failed_ids(resources.db, filters, up_to + 1)
    return len(ids) - len(await _retried(resources, ids))


async def get_retried_as(resources: Resources, job_id: str) -> str | None:
    """The id of the job that re-runs `job_id`, if it was retried (a job is retried once)."""
    async with resources.redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.retried_as(job_id))
        (marker,) = await pipe.execute()
    return marker.decode() if isinstance(marker, bytes) else marker


async def _retried(resources: Resources, job_ids: list[str]) -> set[str]:
    """Which of `job_ids` were retried (the marker the retry script sets with the rerun)."""
    if not job_ids:
        return set()
    async with resources.redis.pipeline(transaction=False) as pipe:
        pipe.mget([keys.retried_as(job_id) for job_id in job_ids])
        (markers,) = await pipe.execute()
    return {job_id for job_id, marker in zip(job_ids, markers, strict=True) if marker}


def _from_ms(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def get_active_jobs(resources: Resources) -> list[ActiveJob]:
    """Jobs running now on any worker, longest-running first."""
    running = await running_entries(resources.redis)
    known = await jobs_db.jobs_by_ids(resources.db, [entry.job_id for entry in running])
    active = []
    for entry in running:
        info = known.get(entry.job_id)
        active.append(
            ActiveJob(
                task_id=entry.job_id, task_name=entry.task or (info.task_name if info else "?"),
                queue=entry.queue, worker=entry.worker, try_number=entry.try_number,
                started_at=_from_ms(entry.started_ms),
                priority=info.priority if info else None, created_at=info.created_at if info else None,
                progress=info.progress if info else None, args=info.args if info else {},
                owner_id=info.owner_id if info else None,
            )
        )  # fmt: skip
    return sorted(active, key=lambda job: job.started_at)


async def owned_job_ids(resources: Resources, job_ids: list[str], owner_id: int) -> set[str]:
    """Which of `job_ids` are recorded as `owner_id`'s."""
    known = await jobs_db.jobs_by_ids(resources.db, job_ids) if job_ids else {}
    return {job_id for job_id, info in known.items() if info.owner_id == owner_id}


async def get_scheduled_jobs(
    resources: Resources,
    cron_entries: Sequence[CronEntry | tuple[str, datetime]] | None = None,
    limit: int = 1000,
) -> ScheduledJobs:
    """Jobs waiting for a time (countdown, eta, next try), soonest first, and the cron entries.

    Cron entries are the caller's, or else those the worker's cron loop wrote with
    `write_cron_schedule`.
    """
    redis = resources.redis
    async with redis.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            pipe.zrange(keys.deferred(queue), 0, limit - 1, withscores=True)
        per_queue: list[list[tuple[bytes, float]]] = await pipe.execute()
    waiting: list[tuple[float, str, str, str]] = []
    for queue, members in zip(QUEUES, per_queue, strict=True):
        for member, due_ms in members:
            priority, _, job_id = member.decode().partition(":")
            waiting.append((due_ms, queue, priority, job_id))
    waiting = sorted(waiting)[:limit]
    definitions = await redis.mget([keys.job(job_id) for *_, job_id in waiting]) if waiting else []
    jobs = []
    for (due_ms, queue, priority, job_id), raw in zip(waiting, definitions, strict=True):
        definition: dict[str, Any] = json.loads(raw) if raw else {}
        try_number = definition.get("t")
        jobs.append(
            ScheduledJob(
                task_id=job_id, task_name=definition.get("f"), queue=queue, priority=int(priority),
                due_at=_from_ms(due_ms), kind="retry" if (try_number or 1) > 1 else "scheduled",
                try_number=try_number, args=definition.get("k") or {},
            )
        )  # fmt: skip
    if cron_entries is None:
        cron = await read_cron_schedule(redis)
    else:
        cron = [
            e if isinstance(e, CronEntry) else CronEntry(name=e[0], next_run_at=e[1])
            for e in cron_entries
        ]
    return ScheduledJobs(jobs=jobs, cron=sorted(cron, key=lambda entry: entry.next_run_at))


async def write_cron_schedule(redis: ArqRedis, entries: Sequence[CronEntry]) -> None:
    """Publish the cron entries and their next runs for `get_scheduled_jobs` (the cron loop's job)."""
    if entries:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys.CRON_SCHEDULE, mapping={e.name: e.model_dump_json() for e in entries})
            await pipe.execute()


async def read_cron_schedule(redis: ArqRedis) -> list[CronEntry]:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.CRON_SCHEDULE)
        (raw,) = await pipe.execute()
    return [CronEntry.model_validate_json(value) for value in raw.values()]


async def get_queue_lengths(resources: Resources) -> list[QueueLength]:
    """Per queue: jobs ready to run, waiting for a time, and running."""
    async with resources.redis.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            pipe.zcard(keys.queue(queue))
            pipe.zcard(keys.deferred(queue))
            pipe.hlen(keys.running(queue))
        counts: list[int] = await pipe.execute()
    return [
        QueueLength(
            queue=queue, ready=counts[3 * i], deferred=counts[3 * i + 1], running=counts[3 * i + 2]
        )
        for i, queue in enumerate(QUEUES)
    ]


async def get_statistics(
    resources: Resources,
    window: timedelta | str | float = "24h",
    now: datetime | None = None,
    owner_id: int | None = None,
) -> Statistics:
    """Counts, throughput, failure rate and run/wait percentiles of the window ending `now`, of
    every job or only `owner_id`'s."""
    span = parse_window(window)
    until = now or datetime.now(UTC)
    since = until - span
    bucket_s = bucket_seconds(span)
    db = resources.db
    finished, live, per_bucket, durations = await asyncio.gather(
        job_rollups.finished_counts(db, since, until, owner_id),
        job_stats.live_counts(db, owner_id),
        job_rollups.finished_per_bucket(db, since, until, bucket_s, owner_id),
        _durations(resources, since, until, owner_id),
    )
    by_status = {JobStatus(s): n for s, n in (finished.by_status | live).items()}
    total = sum(finished.by_status.values())
    success, failure = finished.by_status.get("success", 0), finished.by_status.get("failure", 0)
    return Statistics(
        window_s=span.total_seconds(), since=since, until=until, by_status=by_status,
        by_task=_by_status(finished.by_task), by_queue=_by_status(finished.by_queue),
        finished=total, throughput_per_minute=total / (span.total_seconds() / 60),
        throughput=_series(per_bucket, since, until, bucket_s), bucket_s=bucket_s,
        failure_rate=failure / (success + failure) if success + failure else None,
        runtime=_percentiles(durations.runtime_s, durations.count),
        wait_time=_percentiles(durations.wait_s, durations.count),
    )  # fmt: skip


EXACT_PERCENTILES_UP_TO = 20_000


async def _durations(
    resources: Resources, since: datetime, until: datetime, owner_id: int | None
) -> job_stats.Durations:
    """Run and wait percentiles: exact (percentile_cont) up to EXACT_PERCENTILES_UP_TO jobs in the
    window (and for one owner's jobs), beyond that from the rollups' 2% log buckets (each within
    1% of the exact value)."""
    if owner_id is not None:
        return await job_stats.durations(resources.db, since, until, owner_id)
    histograms = await job_rollups.duration_histograms(resources.db, since, until)
    count = sum(n for _, n in histograms[0])
    if count <= EXACT_PERCENTILES_UP_TO:
        return await job_stats.durations(resources.db, since, until)
    return job_stats.Durations(
        quantiles(histograms[0], job_stats.QUANTILES),
        quantiles(histograms[1], job_stats.QUANTILES),
        count,
    )


def _by_status(counts: dict[str, dict[str, int]]) -> dict[str, dict[JobStatus, int]]:
    return {name: {JobStatus(s): n for s, n in per.items()} for name, per in counts.items()}


def _series(
    per_bucket: dict[datetime, int], since: datetime, until: datetime, bucket_s: int
) -> list[ThroughputPoint]:
    """Every bucket of the window, empty ones too; the last, partial bucket is rated on its length."""
    counts = {
        round((start - since).total_seconds() / bucket_s): n for start, n in per_bucket.items()
    }
    points = []
    for k in range(math.ceil((until - since).total_seconds() / bucket_s)):
        start = since + timedelta(seconds=k * bucket_s)
        length_s = min(bucket_s, (until - start).total_seconds())
        points.append(
            ThroughputPoint(start=start, jobs_per_minute=counts.get(k, 0) / (length_s / 60))
        )
    return points


def _percentiles(values: list[float] | None, count: int) -> Percentiles:
    if not values:
        return Percentiles(count=count)
    p50, p95, p99 = values
    return Percentiles(p50_s=p50, p95_s=p95, p99_s=p99, count=count)
