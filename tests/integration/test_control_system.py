"""System-wide admin actions: purge a queue, live events on/off, retry the dead letter, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.engine import RunningWorker, job_events, live_events, next_event
from tests.support.jobs import broken, echo, progress
from tests.support.waiting import eventually
from voicepipe.db.jobs import count_with_status
from voicepipe.domain.job_info import JobFilters
from voicepipe.engine.cron import CRON_JOBS
from voicepipe.errors import InvalidInput
from voicepipe.history import monitoring, retention
from voicepipe.resources import Resources
from voicepipe.services import control
from voicepipe.tasks.maintenance import prune_job_history


async def test_purge_cancels_every_waiting_job_of_the_queue_and_counts_them(
    resources: Resources,
) -> None:
    ready = [
        await echo.enqueue(resources, value=i) for i in range(1200)
    ]  # more than one purge batch
    deferred = [await echo.enqueue(resources, value=i, countdown_s=60) for i in range(5)]
    elsewhere = await echo.enqueue(resources, value="keep", queue="consensus")
    assert await control.purge_queue(resources, "default") == 1205
    lengths = {q.queue: q for q in await monitoring.get_queue_lengths(resources)}
    assert lengths["default"].ready == 0 and lengths["default"].deferred == 0
    assert lengths["consensus"].ready == 1
    assert await control.purge_queue(resources, "default") == 0
    with pytest.raises(InvalidInput, match="unknown queue"):
        await control.purge_queue(resources, "nope")
    running = RunningWorker(resources, ["default"])
    try:
        ids = [h.job_id for h in ready + deferred]

        async def all_cancelled() -> bool:
            async with resources.db.acquire() as conn:
                return await count_with_status(conn, ids, "cancelled") == len(ids)

        await eventually(all_cancelled, timeout_s=30, what="every purged job recorded cancelled")
    finally:
        await running.close()
    assert (await job_events(resources, ready[0].job_id))[-1]["reason"].startswith("queue default")
    assert await resources.redis.exists(f"arq:job:{elsewhere.job_id}")


async def test_disabling_events_stops_live_traffic_within_a_second_but_not_history(
    resources: Resources,
) -> None:
    worker = RunningWorker(resources, ["default"])
    try:
        await eventually(lambda: _subscribed(worker), what="the worker to listen for control")
        async with live_events(resources) as events:
            await control.disable_events(resources)
            await eventually(
                lambda: _live(worker, False), timeout_s=1.0, what="events off at the worker"
            )
            quiet = await progress.enqueue(resources, steps=5)
            assert await quiet.result(timeout_s=10) == 5
            await control.enable_events(resources)
            await eventually(lambda: _live(worker, True), timeout_s=1.0, what="events back on")
            loud = await progress.enqueue(resources, steps=5)
            seen = await next_event(events, "success")
            assert seen["job_id"] == loud.job_id  # nothing of the quiet job came before it
        history = await job_events(resources, quiet.job_id)
        assert [e["event"] for e in history] == ["queued", "started", "success"]
        assert await control.events_enabled(resources)
    finally:
        await worker.close()


async def test_retry_all_failed_empties_the_dead_letter_view(resources: Resources) -> None:
    worker = RunningWorker(resources, ["default"])
    try:
        failed = [await broken.enqueue(resources) for _ in range(3)]
        for handle in failed:
            assert (await job_events(resources, handle.job_id))[-1]["event"] == "failure"
        dead = await monitoring.get_failed_tasks(resources)
        assert {j.task_id for j in dead.items} == {h.job_id for h in failed}
        assert dead.items[0].traceback and "corrupt input" in (dead.items[0].error or "")
        new_ids = (await control.retry_matching(resources, JobFilters())).new_job_ids
        assert len(new_ids) == 3
        for job_id in new_ids:
            await job_events(resources, job_id)

        async def only_reruns_left() -> bool:
            page = await monitoring.get_failed_tasks(resources)
            return {j.task_id for j in page.items} == set(new_ids)

        await eventually(only_reruns_left, what="the dead letter to hold only the reruns")
    finally:
        await worker.close()


async def test_history_older_than_the_retention_period_is_pruned(resources: Resources) -> None:
    now = datetime.now(UTC)
    async with resources.db.acquire() as conn:
        for task_id, days_ago in (("old-1", 45), ("old-2", 31), ("recent", 5)):
            at = now - timedelta(days=days_ago)
            await conn.execute(
                """INSERT INTO jobs (task_id, task_name, queue, status, created_at, completed_at)
                   VALUES ($1, 't_echo', 'default', 'success', $2, $2)""",
                task_id,
                at,
            )
            await conn.execute(
                "INSERT INTO job_events (task_id, event, at) VALUES ($1, 'success', $2)",
                task_id,
                at,
            )
        await conn.execute(
            """INSERT INTO jobs (task_id, task_name, queue, status, created_at)
               VALUES ('old-but-waiting', 't_echo', 'default', 'scheduled', $1)""",
            now - timedelta(days=60),
        )
    assert await retention.prune_job_history(resources) == 2
    async with resources.db.acquire() as conn:
        left = {r["task_id"] for r in await conn.fetch("SELECT task_id FROM jobs")}
        events_left = {r["task_id"] for r in await conn.fetch("SELECT task_id FROM job_events")}
    assert left == {"recent", "old-but-waiting"}
    assert events_left == {"recent"}
    pruning = CRON_JOBS[prune_job_history.name]
    assert pruning.task.queue == "maintenance" and pruning.minute == 17  # hourly


async def _subscribed(worker: RunningWorker) -> bool:
    return worker.process.control.subscribed.is_set()


async def _live(worker: RunningWorker, enabled: bool) -> bool:
    return worker.process.live_events is enabled
