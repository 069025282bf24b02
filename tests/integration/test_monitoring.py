"""The monitoring service over real recorded history (PostgreSQL) and live queue structures (Redis)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.lifecycles import Life, emit
from voicepipe import keys
from voicepipe.db.users import insert_user
from voicepipe.domain.job_info import JobFilters, JobInfo, PageRequest
from voicepipe.domain.job_views import CronEntry
from voicepipe.domain.jobs import JobStatus
from voicepipe.errors import InvalidInput
from voicepipe.history import job_status, monitoring
from voicepipe.history.recorder import Recorder
from voicepipe.resources import Resources

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
SINCE_S = (NOW - timedelta(hours=1)).timestamp()


async def record(resources: Resources, lives: list[Life]) -> None:
    await emit(resources.redis, [e for life in lives for e in life.events])
    await Recorder(resources, "test").flush()


async def test_job_info_and_timeline_outlive_the_arq_result(resources: Resources) -> None:
    life = Life("j1", task="transcode", priority=2).queued(SINCE_S, metadata={"src": "upload"})
    life.add("started", SINCE_S + 1).add(
        "retry", SINCE_S + 2, error="flaky", traceback="tb", eta=SINCE_S + 5
    )
    life.add("started", SINCE_S + 5.5, try_number=2, worker="w2")
    life.add("progress", SINCE_S + 6, 2, progress={"current": 3, "total": 3, "info": {}})
    life.add("success", SINCE_S + 7, 2, worker="w2", result={"chunks": 4}, runtime_s=1.5)
    await resources.redis.set(keys.result("j1"), b"arq's result", px=1)  # expires at once
    await record(resources, [life])
    assert await resources.redis.exists(keys.result("j1")) == 0
    info = await monitoring.get_job_info(resources, "j1")
    assert info is not None
    assert (info.status, info.task_name, info.priority, info.queue) == (
        JobStatus.SUCCESS,
        "transcode",
        2,
        "default",
    )
    assert (info.result, info.retry_count, info.max_retries, info.worker) == (
        {"chunks": 4},
        1,
        3,
        "w2",
    )
    assert info.error is None and info.progress == {"current": 3, "total": 3, "info": {}}
    assert info.metadata == {"src": "upload"} and info.args == {"job": "j1"}
    assert info.started_at == datetime.fromtimestamp(SINCE_S + 5.5, UTC)
    assert info.runtime_s == pytest.approx(1.5)
    timeline = await monitoring.get_job_timeline(resources, "j1")
    assert [(e.event, e.try_number) for e in timeline] == [
        ("queued", 1), ("started", 1), ("retry", 1), ("started", 2), ("success", 2),
    ]  # fmt: skip
    assert timeline[2].data["error"] == "flaky" and timeline[4].data["result"] == {"chunks": 4}
    assert await job_status.live_status(resources, "j1", "default") == JobStatus.SUCCESS
    assert await monitoring.get_job_info(resources, "nope") is None


async def _many_jobs(resources: Resources) -> tuple[list[Life], int]:
    user = await insert_user(resources.db, "owner@example.org", "user", None)
    assert user is not None
    lives = []
    for i in range(40):
        created_s = SINCE_S + (i // 2)  # pairs share a creation time: the id breaks the tie
        life = Life(
            f"job-{i:02d}",
            task="alpha" if i % 2 else "beta",
            queue="default" if i % 3 else "consensus",
        )
        life.queued(created_s, owner_id=user.id if i % 4 == 0 else None)
        if i % 5 == 0:
            life.add("started", created_s + 1).add("failure", created_s + 2 + i / 100, error=f"disk full on node-{i}",
                                                   traceback=f"Traceback {i}")  # fmt: skip
        elif i % 5 == 1:
            life.add("started", created_s + 1).add("success", created_s + 2, result=i)
        lives.append(life)
    await record(resources, lives)
    return lives, user.id


async def _collect(resources: Resources, filters: JobFilters, limit: int) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = await monitoring.list_jobs(
            resources, filters, PageRequest(limit=limit, cursor=cursor)
        )
        assert len(page.items) <= limit
        ids += [job.task_id for job in page.items]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def _newest_first(lives: list[Life]) -> list[str]:
    return [
        life.job_id
        for life in sorted(
            lives, key=lambda life: (life.events[0]["at"], life.job_id), reverse=True
        )
    ]


async def test_lists_filter_and_page_newest_first(resources: Resources) -> None:
    lives, owner_id = await _many_jobs(resources)
    everything = _newest_first(lives)
    assert await _collect(resources, JobFilters(), 7) == everything
    assert await _collect(resources, JobFilters(), 40) == everything

    def expect(keep: list[int]) -> list[str]:
        return [job_id for job_id in everything if int(job_id[-2:]) in keep]

    cases = [
        (JobFilters(statuses=[JobStatus.FAILURE]), [i for i in range(40) if i % 5 == 0]),
        (JobFilters(statuses=[JobStatus.SUCCESS, JobStatus.FAILURE]), [i for i in range(40) if i % 5 < 2]),
        (JobFilters(queue="consensus"), [i for i in range(40) if i % 3 == 0]),
        (JobFilters(task_name="alpha", statuses=[JobStatus.PENDING]), [i for i in range(40) if i % 2 and i % 5 > 1]),
        (JobFilters(owner_id=owner_id), [i for i in range(40) if i % 4 == 0]),
        (JobFilters(created_after=datetime.fromtimestamp(SINCE_S + 5, UTC),
                    created_before=datetime.fromtimestamp(SINCE_S + 8, UTC)), [10, 11, 12, 13, 14, 15]),
        (JobFilters(search="node-1"), [10, 15]),  # in the error text
        (JobFilters(search="job-3"), list(range(30, 40))),  # in the id
        (JobFilters(search="BETA"), [i for i in range(40) if i % 2 == 0]),  # task name, any case
        (JobFilters(search="100%_"), []),  # wildcards are literal
    ]  # fmt: skip
    for filters, keep in cases:
        assert await _collect(resources, filters, 3) == expect(keep), filters


async def test_a_forged_cursor_is_bad_input(resources: Resources) -> None:
    with pytest.raises(InvalidInput):
        await monitoring.list_jobs(resources, page=PageRequest(cursor="forged"))


async def test_failed_jobs_newest_failure_first_with_their_errors(resources: Resources) -> None:
    await _many_jobs(resources)
    seen: list[JobInfo] = []
    cursor = None
    while True:
        page = await monitoring.get_failed_tasks(resources, PageRequest(limit=3, cursor=cursor))
        seen += page.items
        if (cursor := page.next_cursor) is None:
            break
    assert [job.task_id for job in seen] == [f"job-{i:02d}" for i in (35, 30, 25, 20, 15, 10, 5, 0)]
    assert all(job.status == JobStatus.FAILURE and job.traceback for job in seen)
    assert seen[0].error == "disk full on node-35"


def _finished(job_id: str, task: str, queue: str, done_min: float, wait_s: float, run_s: float,
              status: str = "success") -> Life:  # fmt: skip
    """A job that completes `done_min` minutes into the window after waiting and running as given."""
    done_s = SINCE_S + done_min * 60
    started_s = done_s - run_s
    life = Life(job_id, task=task, queue=queue).queued(started_s - wait_s - 10)
    if (
        status == "failure"
    ):  # a first try, then a retry due at started - wait: wait counts from then
        life.add("started", started_s - wait_s - 9).add(
            "retry", started_s - wait_s - 8, error="e", traceback="t", eta=started_s - wait_s
        )
        life.events[0]["at"] = started_s - wait_s - 10
        life.add("started", started_s, try_number=2).add(
            "failure", done_s, 2, error="e", traceback="t"
        )
        return life
    life.events[0]["at"] = started_s - wait_s
    return life.add("started", started_s).add("success", done_s, result=None)


async def test_statistics_match_hand_computed_numbers(resources: Resources) -> None:
    lives = [
        _finished("s1", "a", "default", 10.1, wait_s=0.5, run_s=1),
        _finished("s2", "a", "default", 10.5, wait_s=1.0, run_s=2),
        _finished("s3", "a", "default", 20.5, wait_s=1.5, run_s=3),
        _finished("s4", "a", "default", 30.5, wait_s=2.0, run_s=4),
        _finished("s5", "a", "default", 40.5, wait_s=2.5, run_s=5),
        _finished("f1", "b", "consensus", 50.5, wait_s=3.0, run_s=6, status="failure"),
        _finished("f2", "b", "consensus", 59.5, wait_s=3.5, run_s=7, status="failure"),
        Life("c1", task="a").queued(SINCE_S + 100).add("cancelled", SINCE_S + 5 * 60 + 30, reason="x"),
        _finished("old1", "a", "default", -30, wait_s=9, run_s=9),  # before the window
        _finished("old2", "c", "default", -0.01, wait_s=9, run_s=9),
        Life("p1").queued(SINCE_S), Life("p2").queued(SINCE_S - 86_400),
        Life("sc").queued(SINCE_S, eta=SINCE_S + 7200),
        Life("run").queued(SINCE_S).add("started", SINCE_S + 1),
        Life("rt").queued(SINCE_S).add("started", SINCE_S + 1).add("retry", SINCE_S + 2, error="e", eta=SINCE_S + 60),
    ]  # fmt: skip
    await record(resources, lives)
    stats = await monitoring.get_statistics(resources, "1h", now=NOW)
    S = JobStatus
    assert stats.by_status == {S.SUCCESS: 5, S.FAILURE: 2, S.CANCELLED: 1, S.PENDING: 2,
                               S.SCHEDULED: 1, S.STARTED: 1, S.RETRY: 1}  # fmt: skip
    assert stats.by_task == {"a": {S.SUCCESS: 5, S.CANCELLED: 1}, "b": {S.FAILURE: 2}}
    assert stats.by_queue == {
        "default": {S.SUCCESS: 5, S.CANCELLED: 1},
        "consensus": {S.FAILURE: 2},
    }
    assert stats.finished == 8 and stats.window_s == 3600
    assert stats.failure_rate == pytest.approx(2 / 7)
    assert stats.throughput_per_minute == pytest.approx(8 / 60)
    assert stats.bucket_s == 60 and len(stats.throughput) == 60
    per_minute = {i: p.jobs_per_minute for i, p in enumerate(stats.throughput) if p.jobs_per_minute}
    assert per_minute == {5: 1, 10: 2, 20: 1, 30: 1, 40: 1, 50: 1, 59: 1}
    assert stats.throughput[0].start == NOW - timedelta(hours=1)
    # percentile_cont over run times 1..7 s and wait times 0.5..3.5 s (the cancelled job never ran)
    assert stats.runtime.count == 7
    assert (stats.runtime.p50_s, stats.runtime.p95_s, stats.runtime.p99_s) == pytest.approx(
        (4, 6.7, 6.94)
    )
    assert (stats.wait_time.p50_s, stats.wait_time.p95_s, stats.wait_time.p99_s) == pytest.approx(
        (2, 3.35, 3.47)
    )


async def test_statistics_of_an_empty_window(resources: Resources) -> None:
    stats = await monitoring.get_statistics(resources, timedelta(days=7), now=NOW)
    assert stats.finished == 0 and stats.by_status == {} and stats.failure_rate is None
    assert stats.runtime.p50_s is None and stats.wait_time.count == 0
    assert len(stats.throughput) == 360 and all(p.jobs_per_minute == 0 for p in stats.throughput)


async def test_live_views_read_the_queue_structures(resources: Resources) -> None:
    redis, now_ms = resources.redis, int(NOW.timestamp() * 1000)
    await redis.zadd(keys.queue("default"), {"ready-1": 1, "ready-2": 2})
    await redis.zadd(keys.deferred("default"), {"2:later": now_ms + 5000, "1:again": now_ms + 1000})
    await redis.zadd(keys.deferred("consensus"), {"3:gone": now_ms + 9000})
    await redis.set(
        keys.job("later"), json.dumps({"t": 1, "f": "transcode", "k": {"x": 1}, "p": 2})
    )
    await redis.set(keys.job("again"), json.dumps({"t": 3, "f": "consensus", "k": {}, "p": 1}))
    running = {"worker": "w9", "started_ms": now_ms - 2000, "try": 2, "task": "process"}
    await redis.hset(keys.running("audio_processing"), "busy", json.dumps(running))
    await redis.hset(
        keys.running("default"), "unrecorded", json.dumps({**running, "started_ms": now_ms})
    )
    busy = Life("busy", task="process", queue="audio_processing").queued(SINCE_S)
    busy.add("progress", SINCE_S + 1, progress={"current": 1, "total": 2, "info": {}})
    await record(resources, [busy])

    lengths = {
        q.queue: (q.ready, q.deferred, q.running)
        for q in await monitoring.get_queue_lengths(resources)
    }
    assert lengths == {"default": (2, 2, 1), "audio_processing": (0, 0, 1), "consensus": (0, 1, 0),
                       "batch_processing": (0, 0, 0), "maintenance": (0, 0, 0)}  # fmt: skip

    active = await monitoring.get_active_jobs(resources)
    assert [(a.task_id, a.queue, a.worker, a.try_number) for a in active] == [
        ("busy", "audio_processing", "w9", 2), ("unrecorded", "default", "w9", 2),
    ]  # fmt: skip
    assert active[0].started_at == NOW - timedelta(seconds=2)
    assert active[0].progress == {"current": 1, "total": 2, "info": {}} and active[0].args == {
        "job": "busy"
    }
    assert active[1].created_at is None  # not recorded (yet): Redis alone still answers

    scheduled = await monitoring.get_scheduled_jobs(
        resources, cron_entries=[("hourly", NOW), ("daily", NOW - timedelta(1))]
    )
    assert [(j.task_id, j.kind, j.task_name, j.priority, j.try_number) for j in scheduled.jobs] == [
        ("again", "retry", "consensus", 1, 3), ("later", "scheduled", "transcode", 2, 1),
        ("gone", "scheduled", None, 3, None),
    ]  # fmt: skip
    assert scheduled.jobs[1].due_at == NOW + timedelta(seconds=5) and scheduled.jobs[1].args == {
        "x": 1
    }
    assert [c.name for c in scheduled.cron] == ["daily", "hourly"]

    entry = CronEntry(name="cleanup", next_run_at=NOW, task_name="cleanup_orphaned_chunks", queue="maintenance",
                      schedule="every hour")  # fmt: skip
    await monitoring.write_cron_schedule(redis, [entry])
    assert (await monitoring.get_scheduled_jobs(resources)).cron == [entry]
