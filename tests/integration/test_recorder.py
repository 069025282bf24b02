"""The event recorder against real Valkey and PostgreSQL: batches, order, failures, claims, trimming."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.lifecycles import Life, emit, interleave, random_life
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.db import jobs as jobs_db
from voicepipe.domain.job_fold import fold
from voicepipe.domain.jobs import JobStatus
from voicepipe.engine import events
from voicepipe.history import monitoring
from voicepipe.history.recorder import Recorder, record_pending
from voicepipe.resources import Resources, open_resources

T0 = time.time() - 3600


async def rows(resources: Resources) -> dict[str, dict[str, Any]]:
    """Every job row (updated_at left out: it says when, not what)."""
    found = await resources.db.fetch("SELECT * FROM jobs")
    return {row["task_id"]: {**dict(row), "updated_at": None} for row in found}


async def pending_count(resources: Resources) -> int:
    summary = await resources.redis.xpending(keys.EVENTS, keys.RECORDERS)
    return int(summary["pending"])


def assert_final_states(found: dict[str, dict[str, Any]], lives: list[Life]) -> None:
    assert set(found) == {life.job_id for life in lives}
    for life in lives:
        row = found[life.job_id]
        assert (row["status"], row["retry_count"]) == (life.status.value, life.retry_count), (
            life.events
        )
        assert row["created_at"].timestamp() == pytest.approx(life.events[0]["at"], abs=1e-5)
        assert row["args"] == {"job": life.job_id} and row["max_retries"] == 3
        assert (row["completed_at"] is not None) == (
            life.status in (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELLED)
        )


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    """Tasks a test starts; cancelled at the end if the test failed before stopping them."""
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_mixed_run_leaves_one_row_per_job_with_its_true_final_status(
    resources: Resources,
) -> None:
    rng = random.Random(3)
    lives = [random_life(f"job-{i}", rng, T0) for i in range(1000)]
    events = interleave(lives, rng)
    assert len(events) > 3000
    await emit(resources.redis, events)
    stop = asyncio.Event()
    two = [Recorder(resources, "r1", batch_size=97), Recorder(resources, "r2", batch_size=61)]
    tasks = [asyncio.create_task(r.run(stop)) for r in two]
    try:
        await eventually(
            lambda: _all_recorded(resources, two, len(events)), 30, "every event recorded"
        )
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert all(r.recorded > 0 for r in two)  # both consumers took a share, in parallel
    assert_final_states(await rows(resources), lives)
    lifecycle = sum(1 for e in events if e["event"] != "progress")
    assert await resources.db.fetchval("SELECT count(*) FROM job_events") == lifecycle
    assert await resources.redis.xlen(keys.EVENTS) == 0  # trimmed once acknowledged


async def _all_recorded(resources: Resources, recorders: list[Recorder], total: int) -> bool:
    return sum(r.recorded for r in recorders) >= total and await pending_count(resources) == 0


@pytest.mark.parametrize("seed", range(4))
async def test_batches_committed_in_any_order_give_the_same_rows(
    resources: Resources, seed: int
) -> None:
    """What two recorders do when the later batch commits first, taken to the extreme."""
    rng = random.Random(seed)
    lives = [random_life(f"job-{i}", rng, T0) for i in range(60)]
    entries = [((int(T0 * 1000), i), e) for i, e in enumerate(interleave(lives, rng))]
    await jobs_db.upsert_jobs(resources.db, fold(entries))
    in_order = await rows(resources)
    await resources.db.execute("TRUNCATE jobs")
    cuts = sorted(rng.sample(range(1, len(entries)), 25))
    batches = [entries[a:b] for a, b in zip([0, *cuts], [*cuts, len(entries)], strict=True)]
    rng.shuffle(batches)
    for batch in batches:
        await jobs_db.upsert_jobs(resources.db, fold(batch))
    shuffled = await rows(resources)
    for job_id, row in in_order.items():
        assert shuffled[job_id] == row
    assert_final_states(shuffled, lives)


async def test_a_start_recorded_before_its_queued_event_is_completed_later(
    resources: Resources,
) -> None:
    life = Life("j1").queued(T0, owner_id=None, metadata={"m": 1}, batch_id="b1")
    life.add("started", T0 + 1).add("success", T0 + 2, result=42)
    await emit(resources.redis, life.events)
    first, second = Recorder(resources, "r1", batch_size=1), Recorder(resources, "r2", batch_size=5)
    queued_batch = await first.read_batch()
    await second.drain_once()  # started and success, committed first
    early = (await rows(resources))["j1"]
    assert early["status"] == "success" and early["args"] == {} and early["batch_id"] is None
    await first.record(queued_batch)
    row = (await rows(resources))["j1"]
    assert row["status"] == "success" and row["result"] == 42  # the older event changed no status
    assert row["args"] == {"job": "j1"} and row["metadata"] == {"m": 1} and row["batch_id"] == "b1"
    assert row["max_retries"] == 3 and row["created_at"].timestamp() == pytest.approx(T0, abs=1e-5)
    assert row["started_at"].timestamp() == pytest.approx(T0 + 1, abs=1e-5)
    assert await pending_count(resources) == 0


async def test_nothing_is_acknowledged_until_postgres_commits(resources: Resources) -> None:
    lives = [Life(f"j{i}").queued(T0 + i) for i in range(5)]
    await emit(resources.redis, [e for life in lives for e in life.events])
    broken = resources.settings.model_copy(
        update={"database_url": "postgresql://nobody@127.0.0.1:9/none"}
    )
    async with open_resources(broken) as unreachable:
        with pytest.raises(OSError):
            await Recorder(unreachable, "r1").drain_once()
    assert await pending_count(resources) == 5  # read, not acknowledged: still in the stream
    assert await resources.redis.xlen(keys.EVENTS) == 5
    recorder = Recorder(resources, "r1")  # the same consumer, restarted with PostgreSQL back
    assert await recorder.drain_once() == 5
    assert len(await rows(resources)) == 5 and await pending_count(resources) == 0


async def test_the_loop_backs_off_while_postgres_refuses_and_loses_nothing(
    resources: Resources, running: list[asyncio.Task[None]]
) -> None:
    await resources.db.execute("ALTER TABLE jobs RENAME TO jobs_away")
    recorder = Recorder(resources, "r1")
    await recorder.ensure_group()
    stop = asyncio.Event()
    running.append(asyncio.create_task(recorder.run(stop)))
    lives = [Life(f"j{i}").queued(T0 + i).add("started", T0 + i + 1) for i in range(10)]
    await emit(resources.redis, [e for life in lives for e in life.events])
    await eventually(lambda: _pending_is(resources, 20), 10, "events read but not acknowledged")
    assert recorder.recorded == 0
    await resources.db.execute("ALTER TABLE jobs_away RENAME TO jobs")
    await eventually(lambda: _pending_is(resources, 0), 10, "the backlog recorded")
    assert {row["status"] for row in (await rows(resources)).values()} == {"started"}
    assert len(await rows(resources)) == 10 and recorder.recorded == 20
    stop.set()
    await asyncio.wait_for(running[0], 5)


async def _pending_is(resources: Resources, n: int) -> bool:
    return await pending_count(resources) == n


async def test_a_dead_consumers_entries_are_claimed_and_then_trimmed(resources: Resources) -> None:
    await emit(resources.redis, [e for i in range(10) for e in Life(f"j{i}").queued(T0 + i).events])
    dead = Recorder(resources, "dead", batch_size=3)
    assert len(await dead.read_batch()) == 3  # and then it dies without acknowledging
    alive = Recorder(resources, "alive", claim_idle_s=3600)
    assert await alive.flush() == 7
    assert await resources.redis.xlen(keys.EVENTS) == 10  # the oldest entry is still pending
    assert len(await rows(resources)) == 7
    impatient = Recorder(resources, "alive", claim_idle_s=0.005)
    assert await eventually(impatient.claim_stale, 5, "the dead consumer's entries claimed") == 3
    await impatient.trim()
    assert len(await rows(resources)) == 10 and await pending_count(resources) == 0
    assert await resources.redis.xlen(keys.EVENTS) == 0


async def test_an_entry_delivered_twice_is_recorded_once(resources: Resources) -> None:
    life = (
        Life("j1")
        .queued(T0)
        .add("started", T0 + 1)
        .add("failure", T0 + 2, error="x", traceback="t")
    )
    await emit(resources.redis, life.events)
    crashed, survivor = Recorder(resources, "crashed"), Recorder(resources, "survivor")
    entries = await crashed.read_batch()
    await survivor.record(entries)  # claimed and recorded by another while the first still commits
    before = await rows(resources)
    await crashed.record(entries)
    assert await rows(resources) == before
    assert await resources.db.fetchval("SELECT count(*) FROM job_events") == 3


async def test_bad_entries_cost_only_their_own_job(resources: Resources) -> None:
    await resources.redis.xadd(keys.EVENTS, {"e": "{not json"})
    await emit(resources.redis, Life("far").queued(1e20).events)  # no timestamp holds it
    await emit(resources.redis, Life("orphan").queued(T0, owner_id=424242).events)  # no such user
    await emit(resources.redis, Life("fine").queued(T0).add("started", T0 + 1).events)
    recorder = Recorder(resources, "r1")
    assert await recorder.flush() == 5
    found = await rows(resources)
    assert set(found) == {"orphan", "fine"}
    assert found["orphan"]["owner_id"] is None and found["fine"]["status"] == "started"
    assert await pending_count(resources) == 0


async def test_record_pending_takes_everything_left_behind(resources: Resources) -> None:
    await emit(resources.redis, [e for i in range(6) for e in Life(f"j{i}").queued(T0 + i).events])
    left = Recorder(resources, "stopped-worker", batch_size=4)
    assert len(await left.read_batch()) == 4
    assert await record_pending(resources) == 6
    assert len(await rows(resources)) == 6
    assert await resources.redis.xlen(keys.EVENTS) == 0


async def test_stream_ids_order_the_row_not_event_times(resources: Resources) -> None:
    """Clocks of two machines disagree; the stream's order is the truth."""
    life = Life("j1").queued(T0).add("started", T0 + 5).add("success", T0 + 4, result=1)
    await emit(resources.redis, life.events)
    await Recorder(resources, "r1").flush()
    row = (await rows(resources))["j1"]
    assert row["status"] == "success" and row["completed_at"].timestamp() == pytest.approx(T0 + 4)


async def test_events_sharing_an_entry_are_ordered_by_their_place_in_it(
    resources: Resources,
) -> None:
    """A claim or finish script writes its jobs' events as one entry, one JSON per line."""
    life = Life("j1").queued(T0).add("started", T0 + 5).add("success", T0 + 4, result=1)
    lines = [events.encode(e) for e in life.events]
    await resources.redis.xadd(keys.EVENTS, {"e": events.join([*lines[:2], "{not json", lines[2]])})
    entries = await resources.redis.xrange(keys.EVENTS)
    recorder = Recorder(resources, "r1", batch_size=2)
    commit, committed = recorder._commit, []

    async def counted(decoded: Any) -> None:
        committed.append(len(decoded))
        await commit(decoded)

    recorder._commit = counted  # type: ignore[method-assign]
    assert await recorder.flush() == 1
    assert committed == [2, 1]  # batch_size events per transaction at most, one entry or not
    row = (await rows(resources))["j1"]
    assert row["status"] == "success" and row["completed_at"].timestamp() == pytest.approx(T0 + 4)
    timeline = await monitoring.get_job_timeline(resources, "j1")
    assert [e.event for e in timeline] == ["queued", "started", "success"]
    await recorder.record(entries)  # delivered again: nothing is added twice
    assert await resources.db.fetchval("SELECT count(*) FROM job_events") == 3
