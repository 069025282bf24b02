"""Which job runs when: priorities, several queues, several workers, cron, and the recorded history."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.support import jobs
from tests.support.engine import RunningWorker, job_events, live_events, marks, next_event
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.domain.jobs import JobPriority
from voicepipe.engine.cron import CRON_JOBS, CronJob, cron
from voicepipe.engine.registry import broker_for
from voicepipe.history import job_status, monitoring
from voicepipe.resources import Resources
from voicepipe.settings import Settings


async def _enqueue_many(
    resources: Resources, n: int, priority: JobPriority = JobPriority.NORMAL
) -> list[str]:
    specs = [jobs.echo.spec(resources, {"value": i}, priority=priority) for i in range(n)]
    for start in range(0, n, 1000):
        assert all(await broker_for(resources).enqueue(specs[start : start + 1000]))
    return [s.job_id for s in specs]


async def test_high_priority_jumps_ten_thousand_normal_jobs(resources: Resources) -> None:
    await _enqueue_many(resources, 10_000)
    urgent = await jobs.echo.enqueue(resources, value="urgent", priority=JobPriority.HIGH)
    async with live_events(resources) as events:
        worker = RunningWorker(resources, ["default"], concurrency=1)
        try:
            assert (await next_event(events, "started"))["job_id"] == urgent.job_id
        finally:
            await worker.close()


async def test_low_priority_is_not_starved_past_the_aging_bound(settings: Settings) -> None:
    from voicepipe.resources import open_resources

    # One level of priority is worth 0.2 s of waiting here, so a LOW job that waited 0.6 s (three
    # levels) is ahead of CRITICAL jobs enqueued after that.
    async with open_resources(settings.model_copy(update={"priority_aging_s": 0.2})) as resources:
        low = await jobs.echo.enqueue(resources, value="low", priority=JobPriority.LOW)
        await asyncio.sleep(0.7)  # the waiting time is the thing under test
        await _enqueue_many(resources, 50, JobPriority.CRITICAL)
        async with live_events(resources) as events:
            worker = RunningWorker(resources, ["default"], concurrency=1)
            try:
                assert (await next_event(events, "started"))["job_id"] == low.job_id
            finally:
                await worker.close()


async def test_one_worker_serves_several_queues(resources: Resources) -> None:
    worker = RunningWorker(resources, ["default", "consensus", "maintenance"])
    try:
        handles = [
            await jobs.echo.enqueue(resources, value=q, queue=q)
            for q in ("default", "consensus", "maintenance")
        ]
        results = [await h.result(timeout_s=10) for h in handles]
        assert [r["queue"] for r in results] == ["default", "consensus", "maintenance"]
        assert len({(await job_events(resources, h.job_id))[1]["worker"] for h in handles}) == 1
    finally:
        await worker.close()


async def test_two_workers_share_a_queue_without_running_a_job_twice(resources: Resources) -> None:
    ids = await _enqueue_many(resources, 600)
    workers = [RunningWorker(resources, ["default"], concurrency=8) for _ in range(2)]
    try:

        async def all_done() -> bool:
            return (
                await resources.redis.zcard(keys.queue("default")) == 0
                and await resources.redis.hlen(keys.running("default")) == 0
            )

        await eventually(all_done, timeout_s=60, what="600 jobs to run")
    finally:
        for worker in workers:
            await worker.close()
    runs = [await marks(resources, job_id, "ran") for job_id in ids]
    assert all(r == [1] for r in runs)
    processed = [w.process.executor.counters["processed"] for w in workers]
    assert sum(processed) == 600 and min(processed) > 0


async def test_cron_runs_once_per_schedule_with_two_workers(resources: Resources) -> None:
    job = CRON_JOBS.get("t_echo_every_second") or cron(
        jobs.echo, name="t_echo_every_second", second=None, kwargs={"value": "tick"}
    )
    assert isinstance(job, CronJob)
    workers = [RunningWorker(resources, ["default"]) for _ in range(2)]
    try:

        async def three_ticks() -> list[bytes]:
            found = await resources.redis.keys("arq:result:cron:t_echo_every_second:*")
            return found if len(found) >= 3 else []

        await eventually(three_ticks, timeout_s=10, what="three cron runs")
        entries = await monitoring.read_cron_schedule(resources.redis)
        assert any(e.name == "t_echo_every_second" and e.next_run_at > datetime.now(UTC) - timedelta(seconds=1)
                   for e in entries)  # fmt: skip
    finally:
        for worker in workers:
            await worker.close()
        del CRON_JOBS["t_echo_every_second"]
    run_times = sorted(
        int(k.rsplit(b":", 1)[1])
        for k in await resources.redis.keys("arq:result:cron:t_echo_every_second:*")
    )
    assert len(run_times) == len(set(run_times))  # one job per scheduled second, never two
    ran = [await marks(resources, f"cron:t_echo_every_second:{t}", "ran") for t in run_times]
    assert all(r == [1] for r in ran)


async def test_history_outlives_the_arq_result(resources: Resources) -> None:
    worker = RunningWorker(resources, ["default"])
    try:
        ok = await jobs.echo.enqueue(resources, value="kept")
        await ok.result(timeout_s=10)
        bad = await jobs.broken.enqueue(resources)
        await eventually(
            lambda: resources.redis.exists(keys.result(bad.job_id)), what="the failure"
        )
    finally:
        await worker.close()
    await resources.redis.delete(keys.result(ok.job_id), keys.result(bad.job_id))  # as if expired
    info = await eventually(
        lambda: monitoring.get_job_info(resources, ok.job_id), what="the recorded row"
    )
    assert info.status == "success" and info.result == {
        "value": "kept",
        "queue": "default",
        "try": 1,
    }
    assert (
        info.args == {"value": "kept"}
        and info.started_at is not None
        and info.completed_at is not None
    )
    failed = await monitoring.get_job_info(resources, bad.job_id)
    assert (
        failed is not None
        and failed.status == "failure"
        and "corrupt input" in (failed.error or "")
    )
    assert await bad.status() is None  # Redis has forgotten it; the history has not
    assert await job_status.live_status(resources, bad.job_id, "default") == "failure"
    dead = await monitoring.get_failed_tasks(resources)
    assert [j.task_id for j in dead.items] == [bad.job_id]


async def test_every_job_is_recorded_once_with_its_final_status(resources: Resources) -> None:
    ids = await _enqueue_many(resources, 300)
    flaky = [await jobs.flaky.enqueue(resources, succeed_on=2) for _ in range(5)]
    broken = [await jobs.broken.enqueue(resources) for _ in range(5)]
    workers = [RunningWorker(resources, ["default"], concurrency=8) for _ in range(2)]
    try:
        for handle in flaky:
            await handle.result(timeout_s=30)
    finally:
        for worker in workers:
            await worker.close()
    stats = await monitoring.get_statistics(resources, "1h")
    rows = await resources.db.fetch("SELECT task_id, status, retry_count FROM jobs")
    by_id = {r["task_id"]: r for r in rows}
    assert len(rows) == 310
    assert all(by_id[i]["status"] == "success" for i in ids)
    assert all(
        by_id[h.job_id]["status"] == "success" and by_id[h.job_id]["retry_count"] == 1
        for h in flaky
    )
    assert all(by_id[h.job_id]["status"] == "failure" for h in broken)
    assert stats.by_status.get("success") == 305 and stats.by_status.get("failure") == 5
