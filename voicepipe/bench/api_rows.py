"""Realistic job rows for the API benchmark: the design's tasks and queues, 30 days of history."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

# task, queue, share of jobs, median run time (s)
TASKS = (
    ("process_audio_recording", "audio_processing", 0.40, 40.0),
    ("calculate_consensus_for_chunks", "consensus", 0.35, 2.0),
    ("batch_process_recordings", "batch_processing", 0.05, 5.0),
    ("recalculate_all_consensus", "maintenance", 0.02, 300.0),
    ("cleanup_orphaned_chunks", "maintenance", 0.03, 10.0),
    ("reprocess_failed_recordings", "maintenance", 0.02, 20.0),
    ("ping", "default", 0.13, 0.01),
)
FINAL = (("success", 0.90), ("failure", 0.06), ("cancelled", 0.04))
ERRORS = ("TruncatedAudioError: the upload ends mid-frame", "NotAudioError: not a known audio format",
          "TimeLimitExceeded: hard limit of 1800 s", "ConnectionError: storage unreachable",
          "SilentAudioError: no speech above the noise floor")  # fmt: skip
HISTORY = timedelta(days=30)
LIVE_SHARE = 0.002  # jobs still waiting or running: the most recent ones


def job_rows(
    n: int, now: datetime, owner_id: int | None, seed: int = 7, chunk: int = 50_000
) -> Iterator[list[tuple[Any, ...]]]:
    """`n` rows in chunks, in the column order of voicepipe.db.bulk.FILL_COLUMNS."""
    rng = np.random.default_rng(seed)
    shares = np.array([t[2] for t in TASKS])
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        task = rng.choice(len(TASKS), size, p=shares / shares.sum())
        # Oldest first, as history is written: each chunk is the next slice of the 30 days.
        span_s = HISTORY.total_seconds()
        age_s = span_s * (1 - np.sort(rng.uniform(start, start + size, size)) / n)
        final = rng.choice(len(FINAL), size, p=[p for _, p in FINAL])
        wait_s = rng.exponential(0.5, size)
        run_s = np.array([TASKS[t][3] for t in task]) * rng.lognormal(0, 0.6, size)
        live = age_s < LIVE_SHARE * HISTORY.total_seconds()
        owned = rng.random(size) < 0.01
        yield [
            _row(now, TASKS[t], age_s[i], FINAL[final[i]][0], wait_s[i], run_s[i], live[i],
                 owner_id if owned[i] else None, start + i, rng)
            for i, t in enumerate(task)
        ]  # fmt: skip


def _row(now: datetime, task: tuple[str, str, float, float], age_s: float, status: str,
         wait_s: float, run_s: float, live: bool, owner_id: int | None, k: int,
         rng: np.random.Generator) -> tuple[Any, ...]:  # fmt: skip
    created = now - timedelta(seconds=float(age_s))
    started: datetime | None = created + timedelta(seconds=float(wait_s))
    completed: datetime | None = started + timedelta(seconds=float(run_s)) if started else None
    if live or (completed is not None and completed > now):
        status, completed = ("pending", None) if k % 3 else ("started", None)
        started = None if status == "pending" else started
    error = ERRORS[k % len(ERRORS)] if status == "failure" else None
    if status == "cancelled" and k % 2:  # cancelled before it ever ran
        started, completed = None, created + timedelta(seconds=float(wait_s))
    return (
        uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | k).hex, task[0], task[1], status,
        int(k % 4), created, None, started, completed, error, 3 if status == "failure" else 0,
        3, f"bench-worker-{k % 8}" if started else None, {"recording_id": k}, owner_id, True,
    )  # fmt: skip


def utc_now() -> datetime:
    return datetime.now(UTC)
