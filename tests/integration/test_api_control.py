"""The admin job-control endpoints: cancel, terminate, retry, purge, restart workers, events on/off."""

from __future__ import annotations

from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.engine import RunningWorker, job_events
from tests.support.jobs import broken
from voicepipe import keys
from voicepipe.history.recorder import record_pending
from voicepipe.resources import Resources


async def _enqueue(api: Api, **body: object) -> str:
    status, job = await api.post("/api/jobs", api.admin, {"task": "ping", **body})
    assert status == 202, job
    return str(job["task_id"])


async def test_cancel_then_retry_and_the_conflicts_between(api: Api, resources: Resources) -> None:
    job_id = await _enqueue(api)
    status, done = await api.post(f"/api/jobs/action/{job_id}", api.admin, {"action": "cancel"})
    assert status == 200 and done["outcome"] == "cancelled"
    await record_pending(resources)
    for action in ("cancel", "terminate"):
        status, body = await api.post(f"/api/jobs/action/{job_id}", api.admin, {"action": action})
        assert status == 409 and "cancelled" in body["error"]["message"], (action, body)
    status, retried = await api.post(
        f"/api/jobs/action/{job_id}", api.admin, {"action": "retry", "countdown": 60}
    )
    assert status == 200 and retried["outcome"] == "queued" and retried["new_job_id"]
    assert await resources.redis.zcard(keys.deferred("default")) == 1  # waits for its countdown
    status, body = await api.post(f"/api/jobs/action/{job_id}", api.admin, {"action": "retry"})
    assert status == 409 and "retried already" in body["error"]["message"]


async def test_actions_on_unknown_jobs_and_bad_actions(api: Api) -> None:
    status, _ = await api.post("/api/jobs/action/nope", api.admin, {"action": "retry"})
    assert status == 404
    status, body = await api.post("/api/jobs/action/nope", api.admin, {"action": "explode"})
    assert status == 422 and body["error"]["message"].startswith("body.action")
    status, body = await api.post(
        "/api/jobs/action/x", api.admin, {"action": "retry", "countdown": -1}
    )
    assert status == 422 and body["error"]["message"].startswith("body.countdown")


async def test_purge_removes_what_waits_in_one_queue(api: Api, resources: Resources) -> None:
    for _ in range(2):
        await _enqueue(api, queue="maintenance")
    kept = await _enqueue(api)
    status, body = await api.post("/api/jobs/queue/purge", api.admin, {"queue": "maintenance"})
    assert status == 200 and body == {"queue": "maintenance", "purged": 2}
    assert await resources.redis.zrange(keys.queue("default"), 0, -1) == [kept.encode()]
    status, body = await api.post("/api/jobs/queue/purge", api.admin, {"queue": "nowhere"})
    assert status == 422 and body["error"]["message"].startswith("body.queue")


async def test_events_off_and_on_and_restart_without_workers(
    api: Api, resources: Resources
) -> None:
    status, body = await api.post("/api/jobs/system/disable-events", api.admin)
    assert status == 200 and body == {"enabled": False}
    assert await resources.redis.get(keys.EVENTS_ENABLED) == b"0"
    status, body = await api.post("/api/jobs/system/enable-events", api.admin)
    assert status == 200 and body == {"enabled": True}
    assert await resources.redis.get(keys.EVENTS_ENABLED) == b"1"
    status, body = await api.post("/api/jobs/system/restart-workers", api.admin)
    assert status == 200 and body == {"workers": []}


async def test_retry_of_the_whole_dead_letter(api: Api, resources: Resources) -> None:
    worker = RunningWorker(resources, ["default"])
    try:
        failed = [await broken.enqueue(resources) for _ in range(2)]
        for handle in failed:
            await job_events(resources, handle.job_id)
        status, body = await api.post("/api/jobs/failed/retry", api.user, {})
        assert status == 403
        status, body = await api.post("/api/jobs/failed/retry", api.admin, {"countdown": 30})
        assert status == 200 and len(body["new_job_ids"]) == 2
        assert await resources.redis.zcard(keys.deferred("default")) == 2  # their countdown
    finally:
        await worker.close()
