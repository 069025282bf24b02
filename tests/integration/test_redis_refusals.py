"""Redis there but refusing: out of memory under `maxmemory` with `noeviction`, a read-only replica,
busy with a long script. New jobs get a clean refusal (a 503 from the API), each loop of a worker
logs one line and waits, and once Redis serves again every job runs once and is recorded."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError, ReadOnlyError, ResponseError

from tests.support import jobs
from tests.support.api import start_api
from tests.support.engine import RunningWorker
from tests.support.memory import fill_to_maxmemory, free_filler, refusals
from tests.support.servers import own_valkey
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.db.jobs import count_with_status
from voicepipe.embedded.valkey import EmbeddedValkey
from voicepipe.engine.cron import CronJob
from voicepipe.engine.heartbeats import get_workers
from voicepipe.engine.registry import JobHandle
from voicepipe.history.monitoring import get_job_timeline
from voicepipe.history.recorder import Recorder
from voicepipe.resources import Resources, open_resources
from voicepipe.settings import Settings
from voicepipe.worker.cron import run_cron


@pytest.fixture
async def valkey(tmp_path: Path) -> AsyncIterator[EmbeddedValkey]:
    """A Valkey of this test's own: its memory cap must not starve the suite's other tests."""
    async with own_valkey(tmp_path / "valkey") as server:
        yield server


@pytest.fixture
async def replica(tmp_path: Path) -> AsyncIterator[EmbeddedValkey]:
    async with own_valkey(tmp_path / "replica") as server:
        yield server


def _own(settings: Settings, redis_url: str) -> Settings:
    # No rate limits: their counters are writes too, and the point is what enqueueing answers.
    return settings.model_copy(
        update={"redis_url": redis_url, "rate_limit_read": 0, "rate_limit_write": 0}
    )


def _warnings(caplog: pytest.LogCaptureFixture, start: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith(start)
    ]


def _warned(caplog: pytest.LogCaptureFixture, *starts: str) -> Callable[[], Awaitable[bool]]:
    """A probe: each of the loops named by `starts` has logged a warning."""

    async def probe() -> bool:
        return all(_warnings(caplog, start) for start in starts)

    return probe


def _said(caplog: pytest.LogCaptureFixture, start: str, words: str) -> bool:
    return any(r.getMessage().startswith(start) and words in r.getMessage() for r in caplog.records)


async def _all_succeeded_once(resources: Resources, handles: list[JobHandle]) -> None:
    for handle in handles:
        on_ours = dataclasses.replace(handle, resources=resources)
        assert await on_ours.result(timeout_s=30) == 1  # t_nap returns its try: the first

    async def recorded() -> bool:
        ids = [h.job_id for h in handles]
        return await count_with_status(resources.db, ids, "success") == len(ids)

    await eventually(recorded, timeout_s=20, what="every job recorded as a success")
    for handle in handles:
        timeline = await get_job_timeline(resources, handle.job_id)
        assert [e.event for e in timeline] == ["queued", "started", "success"]


async def test_out_of_memory_refuses_new_jobs_and_a_running_worker_loses_none(
    settings: Settings, valkey: EmbeddedValkey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voicepipe")
    own = _own(settings, valkey.url)
    async with open_resources(own) as resources:
        redis = resources.redis
        api = await start_api(own, resources)
        worker = RunningWorker(resources, ["default"], concurrency=2)
        try:
            naps = [await jobs.nap.enqueue(resources, seconds=1.0) for _ in range(6)]
            await eventually(lambda: _n_running(resources, 2), what="two jobs running")
            filler = await fill_to_maxmemory(redis)
            full_at_ms = time.time() * 1000
            assert filler > 0

            # Enqueueing is refused whole: nothing of the job is written.
            with pytest.raises(OutOfMemoryError):
                await jobs.nap.enqueue(resources, seconds=0.1, job_id="refused")
            assert not await redis.exists(keys.job("refused"))
            assert await redis.zscore(keys.queue("default"), "refused") is None
            status, body = await api.post("/api/jobs", api.admin, {"task": "ping"})
            assert status == 503, body
            assert "out of memory" in body["error"]["message"]

            # The running jobs end; their outcomes and further claims are refused, again and
            # again, and each of the two loops says so once.
            claiming, finishing = "queue default: claiming:", "finishing jobs:"
            await eventually(_warned(caplog, claiming, finishing), timeout_s=10,
                             what="the claim loop and the finish writer to wait")  # fmt: skip
            refused = await refusals(redis, "OOM")

            async def ten_more_refused() -> bool:
                return await refusals(redis, "OOM") >= refused + 10

            await eventually(ten_more_refused, timeout_s=15, what="ten more refused writes")
            assert len(_warnings(caplog, claiming)) == 1
            assert len(_warnings(caplog, finishing)) == 1
            assert "out of memory" in _warnings(caplog, claiming)[0]
            # Heartbeats still go through (a worker must not look dead), and nothing else failed.
            beat = await eventually(lambda: _beat_after(resources, full_at_ms + 1500),
                                    what="a heartbeat written while out of memory")  # fmt: skip
            assert beat["running"] == []  # both jobs ran; their outcomes wait in memory
            for loop in ("heartbeat", "reaper", "recorder", "control channel", "cron"):
                assert not _warnings(caplog, loop), loop
            assert not worker.task.done()
            assert await count_with_status(resources.db, [h.job_id for h in naps], "success") == 0

            await free_filler(redis, filler)
            await _all_succeeded_once(resources, naps)
            assert _said(caplog, claiming, "working again")
            assert _said(caplog, finishing, "working again")
            status, body = await api.post("/api/jobs", api.admin, {"task": "ping"})
            assert status == 202, body
            assert not worker.task.done()
        finally:
            await worker.close()
            await api.client.close()


async def test_a_worker_started_out_of_memory_records_history_and_runs_jobs_once_freed(
    settings: Settings, valkey: EmbeddedValkey, caplog: pytest.LogCaptureFixture
) -> None:
    """Reading and acknowledging the event stream are not writes Redis refuses when out of
    memory: the recorder keeps folding events into PostgreSQL meanwhile."""
    own = _own(settings, valkey.url)
    async with open_resources(own) as resources:
        await Recorder(resources, "setup").ensure_group()
        naps = [await jobs.nap.enqueue(resources, seconds=0.05) for _ in range(4)]
        filler = await fill_to_maxmemory(resources.redis)
        worker = RunningWorker(resources, ["default"])
        try:
            ids = [h.job_id for h in naps]

            async def recorded_as_queued() -> bool:
                return await count_with_status(resources.db, ids, "pending") == len(ids)

            await eventually(recorded_as_queued, what="the queued events recorded meanwhile")
            await eventually(lambda: _beat_after(resources, 0), what="the new worker's heartbeat")
            await eventually(_warned(caplog, "queue default: claiming:"), what="claims to wait")
            assert await refusals(resources.redis, "OOM") > 1
            assert not _warnings(caplog, "recorder")
            await free_filler(resources.redis, filler)
            await _all_succeeded_once(resources, naps)
        finally:
            await worker.close()


async def test_a_worker_on_a_read_only_replica_waits_and_runs_every_job_once_promoted(
    settings: Settings,
    valkey: EmbeddedValkey,
    replica: EmbeddedValkey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The worker's Redis turned into a replica (a failover the other way): every write is
    refused, the heartbeat and the recorder's reads of the stream too. Promoted, it carries on."""
    primary = _own(settings, valkey.url)
    own = _own(settings, replica.url)
    async with open_resources(primary) as on_primary, open_resources(own) as resources:
        await Recorder(on_primary, "setup").ensure_group()
        naps = [await jobs.nap.enqueue(on_primary, seconds=0.05) for _ in range(4)]
        host, port = valkey.url.removeprefix("redis://").split("/")[0].split(":")
        await resources.redis.execute_command("REPLICAOF", host, port)
        await eventually(lambda: _replicated(resources, len(naps)), what="the replica in sync")
        api = await start_api(own, resources)
        worker = RunningWorker(resources, ["default"])
        try:
            status, body = await api.post("/api/jobs", api.admin, {"task": "ping"})
            assert status == 503 and "read-only" in body["error"]["message"], body
            with pytest.raises(ReadOnlyError):
                await jobs.nap.enqueue(resources, seconds=0.1)
            loops = (
                "queue default: claiming:",
                "heartbeat:",
                f"recorder {worker.process.worker_id}:",
            )
            await eventually(_warned(caplog, *loops), timeout_s=10, what="each loop to wait")
            await eventually(_beats_missed(worker, lambda n: n >= 3), timeout_s=10,
                             what="three refused heartbeats")  # fmt: skip
            for loop in loops:
                assert len(_warnings(caplog, loop)) == 1, loop
                assert "read-only" in _warnings(caplog, loop)[0]
            assert await refusals(resources.redis, "READONLY") > 10
            assert not worker.task.done()

            await resources.redis.execute_command("REPLICAOF", "NO", "ONE")
            await _all_succeeded_once(resources, naps)
            await eventually(_beats_missed(worker, lambda n: n == 0), what="heartbeats again")
        finally:
            await worker.close()
            await api.client.close()


async def test_a_long_script_makes_redis_busy_and_every_loop_waits_it_out(
    settings: Settings, valkey: EmbeddedValkey, caplog: pytest.LogCaptureFixture
) -> None:
    """A script running past `busy-reply-threshold` has Redis answer BUSY to every other command,
    an error redis-py knows only by its text. The heartbeat and the reaper wait it out (the claim
    loop and the recorder, blocked in BLPOP and XREADGROUP, simply get no answer until it ends);
    once the script is killed everything carries on."""
    own = _own(settings, valkey.url)
    async with open_resources(own) as resources:
        api = await start_api(own, resources)
        worker = RunningWorker(resources, ["default"])
        await eventually(lambda: _beat_after(resources, 0), what="the worker's heartbeat")
        await resources.redis.config_set("busy-reply-threshold", 100)
        blocker = Redis.from_url(valkey.url)
        endless = asyncio.create_task(blocker.eval("while true do end", 0))  # type: ignore[misc]
        try:
            await eventually(_warned(caplog, "heartbeat:", "reaper:"), what="the loops to wait")
            await eventually(_beats_missed(worker, lambda n: n >= 3), timeout_s=10,
                             what="three refused heartbeats")  # fmt: skip
            for loop in ("heartbeat:", "reaper:"):
                assert len(_warnings(caplog, loop)) == 1, loop
                assert "busy running a long script" in _warnings(caplog, loop)[0]
            status, body = await api.post("/api/jobs", api.admin, {"task": "ping"})
            assert status == 503 and "busy" in body["error"]["message"], body
            assert not worker.task.done()
            await resources.redis.script_kill()
            with pytest.raises(ResponseError, match="killed"):
                await endless
            naps = [await jobs.nap.enqueue(resources, seconds=0.05) for _ in range(3)]
            await _all_succeeded_once(resources, naps)
            await eventually(_beats_missed(worker, lambda n: n == 0), what="heartbeats again")
        finally:
            endless.cancel()
            await blocker.aclose()
            await worker.close()
            await api.client.close()


async def test_a_cron_run_due_while_out_of_memory_is_enqueued_once_memory_is_freed(
    settings: Settings, valkey: EmbeddedValkey, caplog: pytest.LogCaptureFixture
) -> None:
    """The run is tried again until the job's next run is due, rather than missed."""
    every_3_s = CronJob("t_cron_echo", jobs.echo, second=set(range(0, 60, 3)))
    async with open_resources(_own(settings, valkey.url)) as resources:
        filler = await fill_to_maxmemory(resources.redis)
        stop = asyncio.Event()
        scheduling = asyncio.create_task(run_cron(resources, [every_3_s], stop))
        try:
            await eventually(_warned(caplog, "cron:"), timeout_s=10, what="a run to be refused")
            assert "out of memory" in _warnings(caplog, "cron:")[0]
            refused_at = datetime.now(UTC)
            await free_filler(resources.redis, filler)

            async def enqueued() -> list[bytes]:
                return [k async for k in resources.redis.scan_iter(keys.job("cron:t_cron_echo:*"))]

            runs = await eventually(enqueued, what="the refused run to be enqueued")
            run_ms = int(runs[0].decode().rsplit(":", 1)[1])
            assert run_ms <= refused_at.timestamp() * 1000  # the run that was due, not a later one
            assert not _warnings(caplog, "cron t_cron_echo: the run")  # none was missed
        finally:
            stop.set()
            await scheduling


def _beats_missed(
    worker: RunningWorker, wanted: Callable[[int], bool]
) -> Callable[[], Awaitable[bool]]:
    """A probe: the worker's count of heartbeats Redis refused in a row is as `wanted`."""

    async def probe() -> bool:
        return wanted(worker.process.beats_missed)

    return probe


async def _n_running(resources: Resources, n: int) -> bool:
    return bool(await resources.redis.hlen(keys.running("default")) == n)


async def _beat_after(resources: Resources, after_ms: float) -> dict[str, object] | None:
    beats = [b for b in await get_workers(resources.redis) if b["seen_ms"] > after_ms]
    return beats[0] if beats else None


async def _replicated(resources: Resources, n: int) -> bool:
    info = await resources.redis.info("replication")
    ready = await resources.redis.zcard(keys.queue("default"))
    return info.get("master_link_status") == "up" and ready == n
