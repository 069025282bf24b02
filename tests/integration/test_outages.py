"""Servers going away mid-run: Valkey killed and restarted from its append-only file, PostgreSQL
stopped and started; every job finishes and is recorded with its true status."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from tests.support import jobs
from tests.support.engine import RunningWorker, stream_events
from tests.support.processes import start_voicepipe, voicepipe_env
from tests.support.servers import own_valkey
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.db.jobs import count_with_status
from voicepipe.db.migrate import migrate
from voicepipe.embedded import procs
from voicepipe.embedded.postgres import EmbeddedPostgres
from voicepipe.embedded.valkey import EmbeddedValkey
from voicepipe.engine.heartbeats import HEARTBEAT_INTERVAL_S, HEARTBEAT_TTL_S
from voicepipe.engine.registry import JobHandle
from voicepipe.history.monitoring import get_job_timeline
from voicepipe.resources import Resources, open_resources
from voicepipe.settings import Settings
from voicepipe.tasks.ping import ping


@pytest.fixture
async def valkey(tmp_path: Path) -> AsyncIterator[EmbeddedValkey]:
    """A Valkey of this test's own: the suite's is shared (and flushed by every test)."""
    async with own_valkey(tmp_path / "valkey") as server:
        yield server


@pytest.fixture
async def postgres(tmp_path: Path) -> AsyncIterator[EmbeddedPostgres]:
    """A PostgreSQL of this test's own, migrated: stopping the suite's would break other tests."""
    server = EmbeddedPostgres(tmp_path / "postgres")
    await asyncio.to_thread(server.start)
    conn = await asyncpg.connect(server.url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    yield server
    await asyncio.to_thread(server.stop)


async def _naps(resources: Resources, n: int, seconds: float = 0.3) -> list[JobHandle]:
    return [await jobs.nap.enqueue(resources, seconds=seconds) for _ in range(n)]


async def _all_recorded(resources: Resources, handles: list[JobHandle]) -> bool:
    ids = [h.job_id for h in handles]
    return await count_with_status(resources.db, ids, "success") == len(ids)


async def test_jobs_carry_on_through_a_valkey_crash_and_restart(
    settings: Settings, valkey: EmbeddedValkey
) -> None:
    own = settings.model_copy(update={"redis_url": valkey.url})
    async with open_resources(own) as resources:
        worker = RunningWorker(resources, ["default"], concurrency=4)
        try:
            before = await _naps(resources, 12)
            await eventually(
                lambda: resources.redis.hlen(keys.running("default")), what="jobs to be running"
            )
            pid = procs.read_int(valkey.pidfile)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)  # a crash: only what reached the append-only file counts
            napped = len(jobs.NAPPED)
            await eventually(lambda: asyncio.sleep(0, len(jobs.NAPPED) >= napped + 2),
                             what="jobs to finish while Valkey is down")  # fmt: skip
            await asyncio.to_thread(valkey.start)
            after = await _naps(resources, 12)
            for handle in before + after:
                assert await handle.result(timeout_s=30) == 1  # nothing ran twice
            await eventually(lambda: _all_recorded(resources, before + after), timeout_s=20,
                             what="every job to be recorded")  # fmt: skip
            assert not worker.task.done()  # the worker rode it out
            assert worker.process.executor.counters["processed"] == len(before + after)
        finally:
            await worker.close()


async def test_a_valkey_outage_longer_than_the_heartbeat_expiry_loses_no_worker(
    settings: Settings, valkey: EmbeddedValkey
) -> None:
    """After the restart every heartbeat key has expired; the reaper must not take that for dead
    workers: it waits until workers had time to beat again, so no job is released or run twice."""
    own = settings.model_copy(update={"redis_url": valkey.url})
    async with open_resources(own) as resources:
        worker = RunningWorker(resources, ["default"], concurrency=4)
        bystander = RunningWorker(resources, ["audio_processing"])  # its reaper watches the first
        try:
            naps = await _naps(resources, 4, seconds=HEARTBEAT_TTL_S + 4)
            await eventually(lambda: _n_running(resources, 4), what="the jobs to be running")
            pid = procs.read_int(valkey.pidfile)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)

            async def missed_beats() -> bool:
                # Both workers beat once a second: five misses each outlast the key's expiry.
                misses = HEARTBEAT_TTL_S / HEARTBEAT_INTERVAL_S + 1
                return min(w.process.beats_missed for w in (worker, bystander)) >= misses

            await eventually(missed_beats, timeout_s=15, what="the heartbeat key to expire")
            await asyncio.to_thread(valkey.start)
            assert [await h.result(timeout_s=30) for h in naps] == [1, 1, 1, 1]  # one try each
            await eventually(lambda: _all_recorded(resources, naps), timeout_s=20,
                             what="every job to be recorded")  # fmt: skip
            for handle in naps:
                timeline = await get_job_timeline(resources, handle.job_id)
                assert [e.event for e in timeline] == ["queued", "started", "success"]
        finally:
            await bystander.close()
            await worker.close()


async def _n_running(resources: Resources, n: int) -> bool:
    return bool(await resources.redis.hlen(keys.running("default")) == n)


async def test_jobs_carry_on_while_postgresql_is_down_and_are_recorded_after(
    settings: Settings, postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    own = settings.model_copy(update={"database_url": postgres.url})
    async with open_resources(own) as resources:
        worker = RunningWorker(resources, ["default"], concurrency=4)
        try:
            before = await _naps(resources, 4, seconds=0.05)
            await eventually(
                lambda: _all_recorded(resources, before), what="the first jobs recorded"
            )
            await asyncio.to_thread(postgres.stop)
            during = await _naps(resources, 12)
            for handle in during:
                assert await handle.result(timeout_s=30) == 1  # jobs need no PostgreSQL
            waiting = await stream_events(resources)
            assert len(waiting) >= 3 * len(during)  # queued, started, success: all in the stream
            with pytest.raises((OSError, asyncpg.PostgresError)):
                await resources.db.fetchval("SELECT 1")
            # A worker (re)started during the outage starts anyway and runs jobs.
            late = start_voicepipe(
                "worker", "--no-supervise", "--queues", "audio_processing",
                env=voicepipe_env(tmp_path / "home", REDIS_URL=str(own.redis_url),
                                  DATABASE_URL=str(own.database_url)),
                log=tmp_path / "late-worker.log",
            )  # fmt: skip
            try:
                pinged = await ping.enqueue(resources, queue="audio_processing")
                assert (await pinged.result(timeout_s=30))["pid"] == late.pid
            finally:
                late.terminate()
                await asyncio.to_thread(late.wait, 30)
            await asyncio.to_thread(postgres.start)
            await eventually(lambda: _all_recorded(resources, before + during), timeout_s=30,
                             what="every job to be recorded after PostgreSQL is back")  # fmt: skip
            assert not worker.task.done()
        finally:
            await worker.close()
