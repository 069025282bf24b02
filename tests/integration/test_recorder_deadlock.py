"""A recorder whose transaction PostgreSQL rolls back to break a deadlock commits it again."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.support.lifecycles import Life, emit
from tests.support.waiting import eventually
from voicepipe.history.recorder import Recorder
from voicepipe.resources import Resources
from voicepipe.settings import Settings

T0 = 1_800_000_000.0


async def _waiting_on_a_lock(resources: Resources) -> bool:
    waiting: int = await resources.db.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted")
    return waiting > 0


async def test_the_deadlock_victim_batch_is_committed_again(
    settings: Settings, resources: Resources
) -> None:
    recorder = Recorder(resources, "r1")
    lives = {job_id: Life(job_id).queued(T0) for job_id in ("a", "b")}
    await emit(resources.redis, [e for life in lives.values() for e in life.events])
    await recorder.drain_once()
    for life in lives.values():
        life.add("started", T0 + 1).add("success", T0 + 2, result=1)
    await emit(resources.redis, [e for life in lives.values() for e in life.events[1:]])

    other = await asyncpg.connect(str(settings.database_url))
    try:
        await other.execute("SET deadlock_timeout = '10s'")  # the recorder is the one rolled back
        async with other.transaction():
            # The recorder locks "a" then "b" (sorted); this transaction holds "b", then wants "a".
            await other.execute("SELECT 1 FROM jobs WHERE task_id = 'b' FOR UPDATE")
            recording = asyncio.create_task(recorder.drain_once())
            await eventually(lambda: _waiting_on_a_lock(resources), what="the recorder to wait")
            await other.execute("SELECT 1 FROM jobs WHERE task_id = 'a' FOR UPDATE")
        assert await asyncio.wait_for(recording, 30) == 4
    finally:
        await other.close()
    rows = await resources.db.fetch("SELECT task_id, status FROM jobs ORDER BY task_id")
    assert [(r["task_id"], r["status"]) for r in rows] == [("a", "success"), ("b", "success")]
