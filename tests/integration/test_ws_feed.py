"""What the feed delivers to whom: a user's own notifications and job events only, an admin every
job event and the workers, narrowed by subscribe; bad client messages get an error reply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.engine import RunningWorker
from tests.support.ws import Message, joined, receive, until
from voicepipe.engine import events, heartbeats
from voicepipe.engine.registry import broker_for, get_task
from voicepipe.history.recorder import record_pending
from voicepipe.resources import Resources
from voicepipe.services.notifications import send_notification


def _job(job_id: str, event: str) -> Callable[[Message], bool]:
    return lambda m: (
        m["type"] == "job" and m["event"]["job_id"] == job_id and m["event"]["event"] == event
    )


def _notification(title: str) -> Callable[[Message], bool]:
    return lambda m: m["type"] == "notification" and m["notification"]["title"] == title


async def test_a_user_gets_own_notifications_only(resources: Resources, api: Api) -> None:
    mine = await joined(api.client, api.user)
    theirs = await joined(api.client, api.other)
    (secret,) = await send_notification(resources, "for other", "m", recipient_id=api.other_id)
    (sent,) = await send_notification(
        resources, "for user", "m", "success", recipient_id=api.user_id
    )
    got = await until(theirs, _notification("for other"))  # the other's was delivered first
    seen = await until(mine, _notification("for user"))
    assert [m["type"] for m in seen] == ["notification"], seen  # nothing of the other's before
    message = seen[0]
    assert (
        message["notification"]["id"] == sent.id and message["notification"]["level"] == "success"
    )
    assert message["notification"]["recipient_id"] == api.user_id
    assert "-" in message["id"] and got[-1]["notification"]["id"] == secret.id


async def test_a_user_gets_own_job_events_and_an_admin_every_one(
    resources: Resources, api: Api
) -> None:
    mine, theirs, admin = [await joined(api.client, t) for t in (api.user, api.other, api.admin)]
    ping = get_task("ping")
    worker = RunningWorker(resources, ["default"])
    try:
        other_job = await ping.enqueue(resources, owner_id=api.other_id)
        seen_by_admin = await until(admin, _job(other_job.job_id, "success"), timeout_s=15)
        await until(theirs, _job(other_job.job_id, "success"), timeout_s=15)
        user_job = await ping.enqueue(resources, owner_id=api.user_id)
        seen = await until(mine, _job(user_job.job_id, "success"), timeout_s=15)
        seen_by_admin += await until(admin, _job(user_job.job_id, "success"), timeout_s=15)
    finally:
        await worker.close()
    assert {m["event"]["job_id"] for m in seen} == {user_job.job_id}
    assert [m["event"]["event"] for m in seen] == ["queued", "started", "success"]
    for_admin = {
        (m["event"]["job_id"], m["event"]["event"]) for m in seen_by_admin if m["type"] == "job"
    }
    for job_id in (other_job.job_id, user_job.job_id):
        assert {(job_id, e) for e in ("queued", "started", "success")} <= for_admin
    ids = [m["id"] for m in seen_by_admin]
    assert len(set(ids)) == len(ids)


async def test_events_of_a_job_not_seen_queued_reach_its_owner(
    resources: Resources, api: Api
) -> None:
    """Its queued event was not live (queued before this process started, say): PostgreSQL knows
    the owner, once the recorder has written the job, and the events wait for it."""
    broker = broker_for(resources)
    spec = get_task("ping").spec(resources, {}, owner_id=api.user_id)
    other_spec = get_task("ping").spec(resources, {}, owner_id=api.other_id)
    await broker.enqueue([spec, other_spec], live=False)
    mine, theirs = await joined(api.client, api.user), await joined(api.client, api.other)

    def progress(job_id: str, n: int) -> dict[str, object]:
        return events.make_event(
            "progress", job_id=job_id, task="ping", queue="default", try_number=1, priority=2,
            progress={"current": n, "total": 2, "info": None},
        )  # fmt: skip

    await broker.publish(progress(other_spec.job_id, 1), live=True)
    await broker.publish(progress(spec.job_id, 1), live=True)  # not recorded yet: it waits
    await record_pending(resources)
    await broker.publish(progress(spec.job_id, 2), live=True)
    await until(theirs, _job(other_spec.job_id, "progress"), timeout_s=15)
    seen = await until(mine, lambda m: m["type"] == "job" and m["event"]["progress"]["current"] == 2,
                       timeout_s=15)  # fmt: skip
    assert [(m["event"]["job_id"], m["event"]["progress"]["current"]) for m in seen] == [
        (spec.job_id, 1), (spec.job_id, 2)
    ]  # fmt: skip


async def test_subscribe_narrows_to_one_job(resources: Resources, api: Api) -> None:
    admin = await joined(api.client, api.admin)
    await admin.send_json({"type": "subscribe", "topics": ["job"], "job_id": "wanted"})
    ack = await receive(admin)
    assert ack["type"] == "subscribed" and ack["topics"] == ["job"] and ack["job_id"] == "wanted"
    ping = get_task("ping")
    other = await ping.enqueue(resources, owner_id=api.user_id)
    await ping.enqueue(resources, job_id="wanted", owner_id=api.user_id)
    await send_notification(resources, "not subscribed", "m", recipient_type="admin")
    await ping.enqueue(resources, owner_id=api.user_id)
    # `other` was published before `wanted`, on the same channel: it would have come first
    first = await receive(admin)
    assert first["type"] == "job" and first["event"]["job_id"] == "wanted", (first, other.job_id)
    await admin.send_json({"type": "subscribe"})  # back to everything
    assert (await receive(admin))["topics"] == ["job", "notification", "worker"]
    await send_notification(resources, "now subscribed", "m", recipient_type="admin")
    seen = await until(admin, _notification("now subscribed"))
    assert [m["type"] for m in seen] == ["notification"]


async def test_an_admin_gets_worker_messages_and_a_user_none(
    resources: Resources, api: Api
) -> None:
    admin, user = await joined(api.client, api.admin), await joined(api.client, api.user)
    record = {"id": "w-test", "host": "h", "pid": 1, "queues": ["default"], "running": []}

    async def beat_until_told() -> list[Message]:
        # the hub notices a worker on its next poll, once a second
        async def beating() -> None:
            while True:
                await heartbeats.write_heartbeat(resources.redis, "w-test", record)
                await asyncio.sleep(0.2)

        beats = asyncio.create_task(beating())
        try:
            return await until(admin, lambda m: m["type"] == "worker", timeout_s=10)
        finally:
            beats.cancel()

    told = (await beat_until_told())[-1]
    assert told["event"] in ("up", "heartbeat") and told["worker_id"] == "w-test"
    assert told["worker"]["queues"] == ["default"]
    await heartbeats.remove_heartbeat(resources.redis, "w-test")
    await until(admin, lambda m: m["type"] == "worker" and m["event"] == "down", timeout_s=10)
    await send_notification(resources, "after the workers", "m", recipient_id=api.user_id)
    seen = await until(user, _notification("after the workers"))
    assert [m["type"] for m in seen] == ["notification"]  # no worker message before it


async def test_bad_client_messages_get_an_error_reply(api: Api) -> None:
    user = await joined(api.client, api.user)
    for bad, says in [
        ("not json", "JSON"),
        ('{"type": "dance"}', "type must be one of"),
        ('{"type": "subscribe", "topics": ["gossip"]}', "topics.0"),
        ('{"type": "subscribe", "topics": ["worker"]}', "worker messages are for admins only"),
        ('{"type": "auth", "token": "x"}', "authenticated already"),
    ]:
        await user.send_str(bad)
        reply = await receive(user)
        assert reply["type"] == "error" and says in reply["message"], (bad, reply)
    await user.send_json({"type": "ping"})
    assert (await receive(user))["type"] == "pong"  # the socket still works
