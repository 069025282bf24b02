"""Alerts to the admins, against real Valkey and PostgreSQL: each rule fires once when its
condition holds, repeats only after VOICEPIPE_ALERT_REPEAT_S, resolves when it clears; only
admins are told; one process evaluates a round; the loop starts and stops cleanly.

Time is driven through `evaluate`'s `now` (a moment ahead of the clock) instead of waiting; the
`now`s sit minutes ahead so no real-time round (a loop elsewhere) shares their Redis round key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import tests.support.jobs  # noqa: F401  (registers the test tasks)
from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.engine import RunningWorker
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.db import alerts as alerts_db
from voicepipe.domain.alerts import Notice
from voicepipe.domain.jobs import JobPriority
from voicepipe.domain.notifications import Notification
from voicepipe.engine import events
from voicepipe.engine.heartbeats import get_workers
from voicepipe.engine.registry import get_task
from voicepipe.history.recorder import record_pending
from voicepipe.resources import Resources, open_resources
from voicepipe.services.accounts import create_user
from voicepipe.services.control import purge_queue
from voicepipe.services.notifications import list_notifications
from voicepipe.services.notifications.alerts import current_alerts, evaluate, run_alerts
from voicepipe.services.notifications.alerts_readings import queue_work, recorder_backlog
from voicepipe.settings import Settings

AHEAD_S = 300  # the first `now` of a test: this far ahead of the clock


def ahead(seconds: float = 0) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=AHEAD_S + seconds)


def of(sent: list[Notice], key: str) -> list[Notice]:
    return [n for n in sent if n.key == key]


async def inbox(resources: Resources, user_id: int, key: str) -> list[Notification]:
    """The alert notices with `key` in a user's list of admin notifications, newest first."""
    page = await list_notifications(resources, user_id, limit=200, system_only=True)
    return [n for n in page.items if n.data.get("key") == key]


async def people(resources: Resources) -> tuple[int, int, int]:
    """Two admins and a user."""
    first = await create_user(resources.db, "ops1@example.org", admin=True)
    second = await create_user(resources.db, "ops2@example.org", admin=True)
    user = await create_user(resources.db, "user@example.org")
    return first.id, second.id, user.id


async def enqueue(resources: Resources, queue: str, n: int) -> None:
    for _ in range(n):
        await get_task("t_echo").enqueue(resources, queue=queue)


def with_settings(resources: Resources, **changes: Any) -> Resources:
    return dataclasses.replace(resources, settings=resources.settings.model_copy(update=changes))


async def test_a_backed_up_queue_fires_once_repeats_and_resolves(
    resources: Resources, api: Api
) -> None:
    await enqueue(resources, "audio_processing", 3)  # nobody serves the queue
    key = "queue_age:audio_processing"
    t = ahead(300)  # the jobs have waited 10 min by then

    (fired,) = of(await evaluate(resources, t), key)
    assert (fired.kind, fired.level, fired.title) == (
        "firing", "error", "Queue audio_processing is backed up",
    )  # fmt: skip
    assert fired.message == (
        "Queue audio_processing: the oldest job has waited 10 min (threshold 10 min); "
        "3 jobs are waiting"
    )
    status, system = await api.get("/api/jobs/notifications/system", api.admin)
    assert status == 200
    (shown,) = [n for n in system["items"] if n["data"].get("key") == key]
    assert shown["message"] == fired.message and shown["level"] == "error"
    assert shown["data"]["alert"] == "queue_age" and shown["data"]["state"] == "firing"
    assert shown["data"]["waiting"] == 3 and shown["data"]["threshold_s"] == 600
    status, own = await api.get("/api/jobs/notifications", api.user)
    assert status == 200 and own["items"] == []  # a user is told nothing

    assert of(await evaluate(resources, t + timedelta(seconds=15)), key) == []
    assert of(await evaluate(resources, t + timedelta(seconds=3585)), key) == []
    (repeat,) = of(await evaluate(resources, t + timedelta(seconds=3600)), key)
    assert repeat.kind == "firing" and repeat.message.startswith("Still firing after 1 h.")

    assert await purge_queue(resources, "audio_processing") == 3
    (resolved,) = of(await evaluate(resources, t + timedelta(seconds=3615)), key)
    assert (resolved.kind, resolved.level) == ("resolved", "success")
    assert resolved.message == "Resolved after 1 h. Queue audio_processing: no job is waiting"
    assert of(await evaluate(resources, t + timedelta(seconds=3630)), key) == []
    status, system = await api.get("/api/jobs/notifications/system", api.admin)
    states = [n["data"]["state"] for n in system["items"] if n["data"].get("key") == key]
    assert states == ["resolved", "firing", "firing"]  # newest first


async def test_only_admins_are_told_and_each_admin_once(resources: Resources) -> None:
    first, second, user = await people(resources)
    await enqueue(resources, "consensus", 1)
    key = "queue_age:consensus"
    assert of(await evaluate(resources, ahead(600)), key)
    assert len(await inbox(resources, first, key)) == 1
    assert len(await inbox(resources, second, key)) == 1
    mine = await list_notifications(resources, user)
    assert mine.items == []


async def test_the_oldest_job_is_found_behind_a_higher_priority_one(
    resources: Resources,
) -> None:
    """Ready jobs are ranked with their priority: the first in rank need not be the oldest."""
    await people(resources)
    echo = get_task("t_echo")
    normal = await echo.enqueue(resources, queue="default", priority=JobPriority.NORMAL)
    normal_ms = await enqueued_ms(resources, normal.job_id)

    async def later() -> bool:
        return time.time() * 1000 > normal_ms + 1

    await eventually(later, what="the clock to move on")
    critical = await echo.enqueue(resources, queue="default", priority=JobPriority.CRITICAL)
    assert await enqueued_ms(resources, critical.job_id) > normal_ms
    first_ranked = await resources.redis.zrange(keys.queue("default"), 0, 0)
    assert first_ranked == [critical.job_id.encode()]

    aging_ms = int(resources.settings.priority_aging_s * 1000)
    work = await queue_work(resources.redis, int(time.time() * 1000), aging_ms)
    (default,) = [w for w in work if w.queue == "default"]
    assert (default.ready, default.oldest_ms) == (2, normal_ms)
    (fired,) = of(await evaluate(resources, ahead(300)), "queue_age:default")
    # had a rank been read as a time, the CRITICAL job would have waited 15 min longer
    assert fired.message.startswith("Queue default: the oldest job has waited 10 min ")


async def enqueued_ms(resources: Resources, job_id: str) -> int:
    definition = await resources.redis.get(keys.job(job_id))
    assert definition is not None
    return int(json.loads(definition)["et"])


async def test_a_queue_with_work_and_no_worker_fires_after_its_pending_time(
    resources: Resources,
) -> None:
    first, _, user = await people(resources)
    other = RunningWorker(resources, ["default"])  # alive, but serving another queue
    try:
        await eventually(lambda: get_workers(resources.redis), what="a heartbeat")
        await enqueue(resources, "consensus", 2)
        key, t = "no_worker:consensus", ahead()

        assert of(await evaluate(resources, t), key) == []  # pending: a restart gap is no alert
        (state,) = [s for s in await current_alerts(resources) if s.key == key]
        assert state.status == "pending" and state.figures["waiting"] == 2
        later = t + timedelta(seconds=resources.settings.alert_no_worker_for_s)
        (fired,) = of(await evaluate(resources, later), key)
        assert (fired.level, fired.title) == ("critical", "No worker for queue consensus")
        assert fired.message == "No worker is serving queue consensus, which has 2 jobs waiting"
        assert fired.data["workers"] == 0
        assert of(await evaluate(resources, later + timedelta(seconds=15)), key) == []
        (repeat,) = of(await evaluate(resources, later + timedelta(seconds=3600)), key)
        assert repeat.message.startswith("Still firing after 1 h. No worker is serving")

        serving = RunningWorker(resources, ["consensus"])
        try:

            async def served_and_drained() -> bool:
                beating = [
                    w for w in await get_workers(resources.redis) if "consensus" in w["queues"]
                ]
                return bool(beating) and await resources.redis.zcard(keys.queue("consensus")) == 0

            await eventually(served_and_drained, what="a consensus worker to run the jobs")
            (resolved,) = of(await evaluate(resources, later + timedelta(seconds=3615)), key)
            assert resolved.kind == "resolved"
            assert resolved.message == (
                "Resolved after 1 h. Queue consensus is served by 1 worker (0 jobs waiting)"
            )
        finally:
            await serving.close()
    finally:
        await other.close()
    assert len(await inbox(resources, first, key)) == 3
    assert (await list_notifications(resources, user)).items == []


def _events(task: str, job_id: str, outcome: str) -> list[dict[str, Any]]:
    common: dict[str, Any] = {"job_id": job_id, "task": task, "queue": "default", "priority": 1}
    now = time.time()
    return [
        events.make_event("queued", try_number=1, at=now - 2, args={}, max_retries=0, **common),
        events.make_event("started", try_number=1, at=now - 1, worker="w", **common),
        events.make_event(outcome, try_number=1, at=now, worker="w", error="boom", **common),  # type: ignore[arg-type]
    ]


async def record_outcomes(resources: Resources, task: str, failed: int, succeeded: int) -> None:
    """Jobs of `task` that finished just now, folded in through the recorder's own path."""
    outcomes = ["failure"] * failed + ["success"] * succeeded
    async with resources.redis.pipeline(transaction=False) as pipe:
        for n, outcome in enumerate(outcomes):
            for event in _events(task, f"{task}-{n}-{time.monotonic_ns()}", outcome):
                events.add_to(pipe, event, live=False)
        await pipe.execute()
    assert await record_pending(resources) == 3 * len(outcomes)


async def test_a_failing_task_fires_repeats_and_resolves_when_its_window_passes(
    resources: Resources,
) -> None:
    first, _, user = await people(resources)
    resources = with_settings(resources, alert_repeat_s=60)
    await record_outcomes(resources, "process_audio_recording", failed=7, succeeded=5)
    await record_outcomes(resources, "calculate_consensus_for_chunks", failed=2, succeeded=10)
    key = "failure_rate:process_audio_recording"
    t = ahead(0)  # the jobs finished 5 min before `t`: inside the 15 min window

    sent = await evaluate(resources, t)
    (fired,) = of(sent, key)
    assert fired.message == (
        "Task process_audio_recording: 7 of 12 jobs failed in the last 15 min "
        "(58 %, threshold 50 %)"
    )
    assert fired.title == "Task process_audio_recording is failing" and fired.level == "error"
    assert (fired.data["failed"], fired.data["finished"]) == (7, 12)
    assert of(sent, "failure_rate:calculate_consensus_for_chunks") == []  # 17 %: below

    assert of(await evaluate(resources, t + timedelta(seconds=15)), key) == []
    (repeat,) = of(await evaluate(resources, t + timedelta(seconds=60)), key)
    assert repeat.message.startswith("Still firing after 1 min. Task process_audio_recording: 7")

    (resolved,) = of(await evaluate(resources, t + timedelta(minutes=11)), key)
    assert resolved.message == (
        "Resolved after 11 min. Task process_audio_recording: no job finished in the last 15 min"
    )
    assert [n.data["state"] for n in await inbox(resources, first, key)] == [
        "resolved", "firing", "firing",
    ]  # fmt: skip
    assert (await list_notifications(resources, user)).items == []


async def test_a_task_below_the_minimum_of_finished_jobs_does_not_fire(
    resources: Resources,
) -> None:
    first, _, _ = await people(resources)
    worker = RunningWorker(resources, ["default"])  # records the failures itself
    try:
        for _ in range(9):
            await get_task("t_broken").enqueue(resources)
        key = "failure_rate:t_broken"

        async def failures_recorded(n: int) -> bool:
            now = datetime.now(UTC)
            counts = await alerts_db.outcomes_by_task(resources.db, now - timedelta(minutes=1), now)
            return any(c.task == "t_broken" and c.failed == n for c in counts)

        await eventually(lambda: failures_recorded(9), timeout_s=20, what="9 failures recorded")
        t = ahead(0)
        assert of(await evaluate(resources, t), key) == []  # 9 of 9 failed, but 10 are needed
        (state,) = [s for s in await current_alerts(resources) if s.key == key]
        assert state.figures["failed"] == 9 and state.status == "ok"

        await get_task("t_broken").enqueue(resources)
        await eventually(lambda: failures_recorded(10), timeout_s=20, what="the 10th failure")
        (fired,) = of(await evaluate(resources, t + timedelta(seconds=15)), key)
        assert fired.message.startswith("Task t_broken: 10 of 10 jobs failed")
    finally:
        await worker.close()
    assert len(await inbox(resources, first, key)) == 1


async def test_a_recorder_falling_behind_fires_and_resolves_once_it_catches_up(
    resources: Resources,
) -> None:
    first, _, user = await people(resources)
    key = "recorder_lag"
    lone = _events("t_echo", "lone", "success")[:1]
    async with resources.redis.pipeline(transaction=False) as pipe:
        events.add_to(pipe, lone[0], live=False)
        await pipe.execute()
    oldest_ms, unrecorded = await recorder_backlog(resources.redis)  # no recorder ever ran
    assert unrecorded == 1 and oldest_ms is not None
    assert await record_pending(resources) == 1  # the group exists from now on

    # one event read by a recorder that was lost before it acknowledged, two never read
    async with resources.redis.pipeline(transaction=False) as pipe:
        for event in _events("t_echo", "late", "success"):
            events.add_to(pipe, event, live=False)
        await pipe.execute()
    read = await resources.redis.xreadgroup(keys.RECORDERS, "lost", {keys.EVENTS: ">"}, count=1)
    assert len(read[0][1]) == 1
    oldest_ms, unrecorded = await recorder_backlog(resources.redis)
    assert unrecorded == 3 and oldest_ms is not None
    t = datetime.fromtimestamp(oldest_ms / 1000, UTC) + timedelta(minutes=3)
    t += timedelta(seconds=AHEAD_S)  # keep clear of real-time rounds

    (fired,) = of(await evaluate(resources, t), key)
    assert fired.message == (
        f"The recorder is {3 + AHEAD_S // 60} min behind (threshold 2 min); 3 job events are "
        "not recorded yet"
    )
    assert fired.title == "Job history is falling behind"
    assert of(await evaluate(resources, t + timedelta(seconds=15)), key) == []
    (repeat,) = of(await evaluate(resources, t + timedelta(seconds=3600)), key)
    assert repeat.kind == "firing"

    assert await record_pending(resources, claim_idle_s=0) == 3
    (resolved,) = of(await evaluate(resources, t + timedelta(seconds=3615)), key)
    assert resolved.message == (
        "Resolved after 1 h. The recorder is up to date: every job event is recorded"
    )
    assert len(await inbox(resources, first, key)) == 3
    assert (await list_notifications(resources, user)).items == []


async def test_two_processes_evaluating_one_round_notify_once(
    settings: Settings, resources: Resources
) -> None:
    first, second, _ = await people(resources)
    await enqueue(resources, "maintenance", 1)
    key, t = "queue_age:maintenance", ahead(600)
    async with open_resources(settings) as elsewhere:
        one, two = await asyncio.gather(evaluate(resources, t), evaluate(elsewhere, t))
    assert len(of(one, key)) + len(of(two, key)) == 1  # one of them took the round
    assert [] in (one, two)
    assert len(await inbox(resources, first, key)) == 1
    assert len(await inbox(resources, second, key)) == 1


async def test_the_loop_evaluates_until_it_is_stopped(resources: Resources) -> None:
    first, _, _ = await people(resources)
    resources = with_settings(resources, alert_queue_age_s=1)
    await enqueue(resources, "batch_processing", 1)
    stop = asyncio.Event()
    loop = asyncio.create_task(run_alerts(resources, stop, every_s=0.2))
    key = "queue_age:batch_processing"

    async def told() -> bool:
        return bool(await inbox(resources, first, key))

    await eventually(told, timeout_s=15, what="the loop to fire the queue alert")
    assert not loop.done()
    stop.set()
    await asyncio.wait_for(loop, 5)  # ends by itself, without an error
    assert loop.exception() is None
    assert len(await inbox(resources, first, key)) == 1  # fired once, however many rounds ran
