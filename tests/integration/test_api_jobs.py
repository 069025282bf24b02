"""The /api/jobs read endpoints over recorded history, as an admin and as users who own jobs."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.lifecycles import Life, emit
from voicepipe import keys
from voicepipe.engine.heartbeats import write_heartbeat
from voicepipe.history.recorder import Recorder
from voicepipe.resources import Resources

NOW_S = time.time()


async def record(resources: Resources, lives: list[Life]) -> None:
    await emit(resources.redis, [e for life in lives for e in life.events])
    await Recorder(resources, "test").flush()


def finished(job_id: str, owner: int | None, at_s: float, status: str = "success",
             task: str = "work", queue: str = "default") -> Life:  # fmt: skip
    life = Life(job_id, task=task, queue=queue)
    life.queued(at_s, owner_id=owner).add("started", at_s + 1)
    if status == "failure":
        return life.add("failure", at_s + 2, error="disk on fire", traceback="tb")
    return life.add("success", at_s + 2, result={"ok": True})


async def test_list_filters_pages_and_isolates_owners(api: Api, resources: Resources) -> None:
    mine = [finished(f"mine{i}", api.user_id, NOW_S - 600 + i) for i in range(5)]
    theirs = [finished("theirs", api.other_id, NOW_S - 500, task="other", queue="consensus")]
    broken = [finished("broken", api.user_id, NOW_S - 400, status="failure")]
    await record(resources, mine + theirs + broken)

    status, page = await api.get("/api/jobs", api.user, params={"limit": "4"})
    assert status == 200
    assert [j["task_id"] for j in page["items"]] == ["broken", "mine4", "mine3", "mine2"]
    status, rest = await api.get(
        "/api/jobs", api.user, params={"limit": "4", "cursor": page["next_cursor"]}
    )
    assert [j["task_id"] for j in rest["items"]] == ["mine1", "mine0"] and rest[
        "next_cursor"
    ] is None

    _, everything = await api.get("/api/jobs", api.admin)
    assert {j["task_id"] for j in everything["items"]} == {f"mine{i}" for i in range(5)} | {
        "theirs",
        "broken",
    }
    _, by_queue = await api.get("/api/jobs", api.admin, params={"queue": "consensus"})
    assert [j["task_id"] for j in by_queue["items"]] == ["theirs"]
    _, by_status = await api.get("/api/jobs", api.user, params={"status": "failure,cancelled"})
    assert [j["task_id"] for j in by_status["items"]] == ["broken"]
    _, by_text = await api.get("/api/jobs", api.admin, params={"q": "on fire"})
    assert [j["task_id"] for j in by_text["items"]] == ["broken"]
    _, by_task = await api.get("/api/jobs", api.user, params={"task": "other"})
    assert by_task["items"] == []  # someone else's job does not show through a filter either
    since = datetime.fromtimestamp(NOW_S - 598.5, UTC).isoformat()
    _, by_time = await api.get(
        "/api/jobs", api.user, params={"created_after": since, "status": "success"}
    )
    assert [j["task_id"] for j in by_time["items"]] == ["mine4", "mine3", "mine2"]


async def test_info_is_the_owners_and_admins_only(api: Api, resources: Resources) -> None:
    await record(resources, [finished("j1", api.user_id, NOW_S - 60, status="failure")])
    status, job = await api.get("/api/jobs/info/j1", api.user)
    assert status == 200
    assert (job["status"], job["error"], job["owner_id"]) == (
        "failure",
        "disk on fire",
        api.user_id,
    )
    assert [e["event"] for e in job["timeline"]] == ["queued", "started", "failure"]
    assert (await api.get("/api/jobs/info/j1", api.admin))[0] == 200
    status, body = await api.get("/api/jobs/info/j1", api.other)
    assert status == 404 and body["error"]["status"] == 404
    assert (await api.get("/api/jobs/info/nope", api.admin))[0] == 404


async def test_failed_lists_the_callers_dead_letters(api: Api, resources: Resources) -> None:
    await record(resources, [
        finished("f-mine", api.user_id, NOW_S - 60, status="failure"),
        finished("f-theirs", api.other_id, NOW_S - 50, status="failure"),
        finished("ok", api.user_id, NOW_S - 40),
    ])  # fmt: skip
    _, mine = await api.get("/api/jobs/failed", api.user)
    assert [j["task_id"] for j in mine["items"]] == ["f-mine"]
    _, every = await api.get("/api/jobs/failed", api.admin)
    assert [j["task_id"] for j in every["items"]] == ["f-theirs", "f-mine"]


async def test_active_and_scheduled_show_only_owned_jobs_to_users(
    api: Api, resources: Resources
) -> None:
    await record(resources, [
        Life("run-mine").queued(NOW_S - 5, owner_id=api.user_id),
        Life("run-theirs").queued(NOW_S - 5, owner_id=api.other_id),
        Life("later-mine").queued(NOW_S - 5, owner_id=api.user_id, eta=NOW_S + 3600),
    ])  # fmt: skip
    now_ms = int(NOW_S * 1000)
    for job_id in ("run-mine", "run-theirs"):
        entry = f'{{"worker": "w1", "started_ms": {now_ms}, "try": 1, "task": "work"}}'
        await resources.redis.hset(keys.running("default"), job_id, entry)
    await resources.redis.zadd(keys.deferred("default"), {"1:later-mine": now_ms + 3_600_000})
    await resources.redis.zadd(keys.deferred("default"), {"1:later-theirs": now_ms + 3_600_000})

    _, active = await api.get("/api/jobs/active", api.user)
    assert [j["task_id"] for j in active["jobs"]] == ["run-mine"]
    _, active = await api.get("/api/jobs/active", api.admin)
    assert {j["task_id"] for j in active["jobs"]} == {"run-mine", "run-theirs"}
    _, scheduled = await api.get("/api/jobs/scheduled", api.user)
    assert [j["task_id"] for j in scheduled["jobs"]] == ["later-mine"]
    _, scheduled = await api.get("/api/jobs/scheduled", api.admin)
    assert {j["task_id"] for j in scheduled["jobs"]} == {"later-mine", "later-theirs"}


async def test_statistics_over_each_window_count_only_the_users_jobs(
    api: Api, resources: Resources
) -> None:
    me, them = api.user_id, api.other_id
    await record(resources, [
        finished("a", me, NOW_S - 1800), finished("b", me, NOW_S - 7200, status="failure"),
        finished("c", me, NOW_S - 3 * 86_400), finished("d", them, NOW_S - 600),
        finished("e", None, NOW_S - 900, task="cron_job"), Life("p").queued(NOW_S, owner_id=them),
    ])  # fmt: skip

    async def finished_in(token: str) -> dict[str, tuple[int, dict[str, int], list[str]]]:
        seen = {}
        for window in ("1h", "24h", "7d"):
            status, stats = await api.get("/api/jobs/statistics", token, params={"window": window})
            assert status == 200
            seen[window] = (stats["finished"], stats["by_status"], sorted(stats["by_task"]))
        return seen

    assert await finished_in(api.user) == {
        "1h": (1, {"success": 1}, ["work"]),
        "24h": (2, {"success": 1, "failure": 1}, ["work"]),
        "7d": (3, {"success": 2, "failure": 1}, ["work"]),
    }
    everything = await finished_in(api.admin)
    assert everything["7d"] == (5, {"success": 4, "failure": 1, "pending": 1}, ["cron_job", "work"])
    status, body = await api.get("/api/jobs/statistics", api.user, params={"window": "2d"})
    assert status == 422 and "query.window" in body["error"]["message"]


async def test_workers_and_queues_for_admins(api: Api, resources: Resources) -> None:
    await write_heartbeat(
        resources.redis, "w1", {"id": "w1", "host": "h", "pid": 7, "queues": ["default"]}
    )
    await resources.redis.zadd(keys.queue("consensus"), {"x": 1, "y": 2})
    status, body = await api.get("/api/jobs/workers", api.admin)
    assert status == 200 and [(w["id"], w["pid"]) for w in body["workers"]] == [("w1", 7)]
    status, body = await api.get("/api/jobs/queues", api.admin)
    lengths = {q["queue"]: q["ready"] for q in body["queues"]}
    assert status == 200 and lengths["consensus"] == 2 and lengths["default"] == 0


async def test_enqueue_records_the_caller_as_owner(api: Api, resources: Resources) -> None:
    status, body = await api.post(
        "/api/jobs", api.admin, {"task": "ping", "kwargs": {"payload": "hi"}}
    )
    assert status == 202 and body["task_name"] == "ping" and body["status"] == "pending"
    await Recorder(resources, "test").flush()
    status, job = await api.get(f"/api/jobs/info/{body['task_id']}", api.admin)
    admin_id = job["owner_id"]
    assert (
        status == 200 and job["args"] == {"payload": "hi"} and admin_id not in (None, api.user_id)
    )
    status, later = await api.post("/api/jobs", api.admin, {"task": "ping", "countdown_s": 60})
    assert status == 202 and later["status"] == "scheduled"


async def test_enqueue_names_the_bad_argument(api: Api) -> None:
    cases = [
        ({"task": "ping", "kwargs": {"payload": 3}}, 422, "body.kwargs.payload"),
        ({"task": "ping", "kwargs": {"nope": 1}}, 422, "body.kwargs.nope"),
        ({"task": "no_such_task"}, 422, "body.task"),
        ({"task": "ping", "priority": "URGENT"}, 422, "body.priority"),
        ({"kwargs": {}}, 422, "body.task"),
        ({"task": "ping", "queue": "nowhere"}, 400, "nowhere"),
    ]
    for body, status, named in cases:
        got, error = await api.post("/api/jobs", api.admin, body)
        assert (got, named in error["error"]["message"]) == (status, True), (body, error)
    response = await api.client.post("/api/jobs", data=b"{not json", headers=api.auth(api.admin))
    assert response.status == 400 and "not JSON" in (await response.json())["error"]["message"]


async def test_bad_query_values_are_422_naming_the_field(api: Api) -> None:
    for params, named in [
        ({"limit": "0"}, "query.limit"), ({"status": "bogus"}, "query.status"),
        ({"created_after": "yesterday"}, "query.created_after"), ({"q": "ab"}, "query.q"),
        ({"created_after": "2020-01-01T00:00:00"}, "query.created_after"),  # no time zone
        ({"unknown": "1"}, "query.unknown"),
    ]:  # fmt: skip
        status, body = await api.get("/api/jobs", api.user, params=params)
        assert status == 422 and body["error"]["message"].startswith(named), (params, body)
    status, body = await api.get("/api/jobs", api.user, params={"cursor": "garbage!"})
    assert status == 400
    status, body = await api.get("/api/jobs", api.user, params={"queue": "a\x00b"})
    assert status == 400 and body["error"]["status"] == 400
