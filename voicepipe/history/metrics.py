"""Prometheus metrics, computed at scrape time from PostgreSQL and Redis, so every web process
reports the same numbers however many web and worker processes there are."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from voicepipe import keys
from voicepipe.db import job_rollups
from voicepipe.domain.histogram import bucket_value
from voicepipe.domain.job_views import QueueLength
from voicepipe.engine.heartbeats import live_worker_ids
from voicepipe.history.monitoring import get_queue_lengths
from voicepipe.resources import Resources

RUNTIME_BOUNDS_S = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600)


@dataclass(frozen=True)
class Snapshot:
    jobs: list[tuple[str, str, int]]
    runtime: list[tuple[int, int]]
    queues: list[QueueLength]
    workers: int
    stream_length: int
    pending: int
    undelivered: int


async def snapshot(resources: Resources) -> Snapshot:
    jobs, runtime, queues, workers, stream = await asyncio.gather(
        job_rollups.counts_by_task_and_status(resources.db),
        job_rollups.runtime_histogram(resources.db),
        get_queue_lengths(resources),
        live_worker_ids(resources.redis),
        _stream(resources),
    )
    return Snapshot(jobs, runtime, queues, len(workers), *stream)


async def _stream(resources: Resources) -> tuple[int, int, int]:
    """Events in the stream, read but not yet recorded (pending), and not yet read (lag)."""
    redis = resources.redis
    length = await redis.xlen(keys.EVENTS)
    if not length:
        return 0, 0, 0
    groups = await redis.xinfo_groups(keys.EVENTS)
    group = next(
        (g for g in groups if g["name"] in (keys.RECORDERS, keys.RECORDERS.encode())), None
    )
    if group is None:
        return length, 0, length
    lag = group.get("lag")
    return length, int(group["pending"]), int(lag) if lag is not None else 0


class _Collector(Collector):
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        snap = self.snap
        jobs = GaugeMetricFamily(
            "voicepipe_jobs", "Recorded jobs by task and status (history kept in PostgreSQL).",
            labels=["task", "status"],
        )  # fmt: skip
        for task, status, n in snap.jobs:
            jobs.add_metric([task, status], n)
        yield jobs
        queued = GaugeMetricFamily(
            "voicepipe_queue_jobs", "Jobs in Redis per queue: ready, deferred or running.",
            labels=["queue", "state"],
        )  # fmt: skip
        for q in snap.queues:
            for state, n in (("ready", q.ready), ("deferred", q.deferred), ("running", q.running)):
                queued.add_metric([q.queue, state], n)
        yield queued
        yield _runtime_histogram(snap.runtime)
        yield GaugeMetricFamily(
            "voicepipe_workers_alive", "Workers with a live heartbeat.", value=snap.workers
        )
        yield GaugeMetricFamily(
            "voicepipe_events_stream_length",
            "Job events in the Redis stream.",
            value=snap.stream_length,
        )
        yield GaugeMetricFamily(
            "voicepipe_recorder_pending_events",
            "Events read by a recorder, not yet committed.",
            value=snap.pending,
        )
        yield GaugeMetricFamily("voicepipe_recorder_lag_events", "Events no recorder has read yet.", value=snap.undelivered)  # fmt: skip


def _runtime_histogram(counts: list[tuple[int, int]]) -> HistogramMetricFamily:
    """Cumulative buckets from the 2% log buckets (a job lands within 1% of its run time)."""
    cumulative = [0] * (len(RUNTIME_BOUNDS_S) + 1)
    total_s = 0.0
    for bucket, n in counts:
        value = bucket_value(bucket)
        total_s += value * n
        for i, bound in enumerate((*RUNTIME_BOUNDS_S, float("inf"))):
            if value <= bound:
                cumulative[i] += n
    labels = [*(str(b) for b in RUNTIME_BOUNDS_S), "+Inf"]
    return HistogramMetricFamily(
        "voicepipe_job_runtime_seconds", "Run time of finished jobs (last try).",
        buckets=list(zip(labels, cumulative, strict=True)), sum_value=total_s,
    )  # fmt: skip


async def render(resources: Resources) -> bytes:
    """The metrics in Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(await snapshot(resources)))
    return generate_latest(registry)
