"""The rollups behind statistics and /metrics stay equal to the jobs themselves through
out-of-order and redelivered events, retries and deleted history."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from tests.support.lifecycles import emit, interleave, random_life
from voicepipe import keys
from voicepipe.db import job_rollups
from voicepipe.history.recorder import Recorder
from voicepipe.resources import Resources

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


async def _rolled_and_raw(resources: Resources) -> tuple[dict[str, int], dict[str, int]]:
    since, until = NOW - timedelta(days=3), NOW
    rolled = await job_rollups.finished_counts(resources.db, since, until)
    raw = await resources.db.fetch(
        """SELECT status, count(*) AS n FROM jobs
           WHERE completed_at >= $1 AND completed_at < $2 GROUP BY status""", since, until,
    )  # fmt: skip
    return rolled.by_status, {row["status"]: row["n"] for row in raw}


async def test_rollups_match_the_rows_whatever_the_event_order(resources: Resources) -> None:
    rng = random.Random(5)
    t0 = (NOW - timedelta(days=2)).timestamp()
    lives = [random_life(f"j{i}", rng, t0 + rng.uniform(0, 86_400)) for i in range(300)]
    await emit(resources.redis, interleave(lives, rng))
    entries = await resources.redis.xrange(keys.EVENTS)
    recorder = Recorder(resources, "test", batch_size=37)  # a job's events span several batches
    await recorder.flush()
    rolled, raw = await _rolled_and_raw(resources)
    assert rolled == raw and sum(raw.values()) > 100
    rng.shuffle(entries)
    await recorder.record(entries[: len(entries) // 2])  # redelivered, in another order
    assert await _rolled_and_raw(resources) == (rolled, raw)
    await resources.db.execute("DELETE FROM jobs WHERE task_id LIKE 'j1%'")  # pruned history
    rolled, raw = await _rolled_and_raw(resources)
    assert rolled == raw
    runtimes = await job_rollups.duration_histograms(resources.db, NOW - timedelta(days=3), NOW)
    started = await resources.db.fetchval(
        "SELECT count(*) FROM jobs WHERE completed_at IS NOT NULL AND started_at IS NOT NULL"
    )
    assert sum(n for _, n in runtimes[0]) == sum(n for _, n in runtimes[1]) == started
