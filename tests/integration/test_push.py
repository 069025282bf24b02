"""Web push end to end: browsers subscribe through the API, notifications reach a strict local
push service (VAPID checked, bodies decrypted with the browser's keys), failures are handled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.engine import RunningWorker
from tests.support.push_service import Browser, PushService
from tests.support.waiting import eventually
from voicepipe.db import push as push_db
from voicepipe.push import (
    MAX_PAYLOAD_BYTES,
    Push,
    PushError,
    SubscriptionKeys,
    new_keys,
    send_push,
    topic_for,
)
from voicepipe.resources import Resources, open_resources
from voicepipe.services.notifications import push_channel, send_notification
from voicepipe.services.notifications.push_subscriptions import vapid_keys
from voicepipe.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The push service listens on loopback over http: allowed only with the SSRF guard off."""
    return settings.model_copy(
        update={"webhook_allow_private": True, "public_url": "https://vp.example.org"}
    )


@pytest.fixture
async def service() -> AsyncIterator[PushService]:
    started = await PushService().start()
    yield started
    await started.close()


@pytest.fixture
async def worker(resources: Resources) -> AsyncIterator[RunningWorker]:
    running = RunningWorker(resources, ["default"])
    yield running
    await running.close()


async def subscribe(api: Api, service: PushService, token: str) -> tuple[Browser, int]:
    """What the page does: fetch the server key, subscribe the browser, post the subscription."""
    status, key = await api.get("/api/push/vapid-public-key", token)
    assert status == 200
    browser = service.browser(key["public_key"])
    status, body = await api.post("/api/push/subscriptions", token, browser.to_json())
    assert status == 201, body
    return browser, body["id"]


async def push_to(resources: Resources, user_id: int, **fields: Any) -> int:
    defaults: dict[str, Any] = {"title": "Batch done", "message": "42 recordings", "level": "info"}
    (sent,) = await send_notification(
        resources, **{**defaults, **fields}, channels=["push"], recipient_id=user_id
    )
    assert sent.id is not None
    return sent.id


async def statuses(resources: Resources, notification_id: int) -> dict[int, str]:
    return await push_db.delivery_statuses(resources.db, notification_id)


async def test_a_notification_arrives_decrypted_with_its_urgency_ttl_and_topic(
    api: Api, settings: Settings, resources: Resources, service: PushService, worker: RunningWorker
) -> None:
    browser, subscription_id = await subscribe(api, service, api.user)
    sent = await push_to(resources, api.user_id, title="Upload failed", message="bad header",
                         level="error", job_id="job-7")  # fmt: skip
    (got,) = await eventually(lambda: _received(service, browser, 1), what="the push")
    assert got.payload == {
        "title": "Upload failed", "message": "bad header", "level": "error",
        "url": "https://vp.example.org/admin/jobs/job-7", "notification_id": sent,
    }  # fmt: skip
    assert (got.urgency, got.ttl, got.topic) == ("high", 86_400, topic_for("job:job-7"))
    assert got.claims["aud"] == service.origin and got.claims["sub"] == settings.vapid_subject
    assert await eventually(
        lambda: _status_is(resources, sent, subscription_id, "delivered"), what="delivered"
    )


async def test_two_pushes_for_one_job_carry_the_same_topic_and_low_levels_low_urgency(
    api: Api, resources: Resources, service: PushService, worker: RunningWorker
) -> None:
    browser, _ = await subscribe(api, service, api.user)
    await push_to(resources, api.user_id, job_id="job-1", level="warning")
    await push_to(resources, api.user_id, job_id="job-1", level="success")
    await push_to(resources, api.user_id, job_id="job-2", level="info")
    await push_to(resources, api.user_id, level="info")
    got = await eventually(lambda: _received(service, browser, 4), what="four pushes")
    by_job = {r.payload["url"].rsplit("/", 1)[1]: r for r in got}
    topics = [r.topic for r in got if r.payload["url"].endswith("job-1")]
    assert topics == [topic_for("job:job-1")] * 2
    assert by_job["job-2"].topic == topic_for("job:job-2") != topics[0]
    assert by_job[""].topic is None  # no job, nothing to collapse with
    assert sorted(r.urgency or "" for r in got) == ["low", "low", "low", "normal"]


async def test_410_deletes_the_subscription(
    api: Api, resources: Resources, service: PushService, worker: RunningWorker
) -> None:
    browser, subscription_id = await subscribe(api, service, api.user)
    service.answer(browser, 410)
    await push_to(resources, api.user_id)

    async def forgotten() -> bool:
        status, body = await api.get("/api/push/subscriptions", api.user)
        return status == 200 and body["items"] == []

    await eventually(forgotten, what="the subscription to be deleted")
    assert service.answered[browser.token] == [410]
    assert service.received == []
    status, _ = await _delete(api, api.user, subscription_id)
    assert status == 404


async def test_a_500_is_retried_then_delivered(
    api: Api, resources: Resources, service: PushService, worker: RunningWorker
) -> None:
    browser, subscription_id = await subscribe(api, service, api.user)
    service.answer(browser, 500, 429)
    sent = await push_to(resources, api.user_id)
    await eventually(lambda: _received(service, browser, 1), timeout_s=20, what="the retried push")
    assert service.answered[browser.token] == [500, 429, 201]
    await eventually(lambda: _status_is(resources, sent, subscription_id, "delivered"))
    attempts = await resources.db.fetchval("SELECT attempts FROM push_deliveries")
    assert attempts == 3


async def test_another_4xx_fails_the_delivery_without_retrying(
    api: Api, resources: Resources, service: PushService, worker: RunningWorker
) -> None:
    browser, subscription_id = await subscribe(api, service, api.user)
    service.answer(browser, 400)
    sent = await push_to(resources, api.user_id)
    await eventually(lambda: _status_is(resources, sent, subscription_id, "failed"))
    assert service.answered[browser.token] == [400]
    _, body = await api.get("/api/push/subscriptions", api.user)
    assert [s["id"] for s in body["items"]] == [subscription_id]  # kept: not a gone subscription


async def test_a_very_long_message_stays_under_the_limit_and_decrypts_to_json(
    api: Api, resources: Resources, service: PushService, worker: RunningWorker
) -> None:
    browser, _ = await subscribe(api, service, api.user)
    message = "Aufnahme prüfen 🎙️ " * 600  # ~12 kB of UTF-8, multi-byte characters included
    await push_to(resources, api.user_id, message=message)
    (got,) = await eventually(lambda: _received(service, browser, 1), what="the long push")
    assert got.plaintext_bytes <= MAX_PAYLOAD_BYTES and got.body_bytes <= 4096
    assert got.payload["message"].endswith("…")
    assert message.startswith(got.payload["message"][:-1])
    assert got.payload["title"] == "Batch done"


async def test_vapid_keys_are_made_once_and_shared_by_every_process(
    api: Api, settings: Settings, service: PushService
) -> None:
    async with open_resources(settings) as one, open_resources(settings) as two:
        first, second = await vapid_keys(one), await vapid_keys(two)
    async with open_resources(settings) as restarted:
        third = await vapid_keys(restarted)
        rows = await restarted.db.fetchval("SELECT count(*) FROM vapid_keys")
    assert first == second == third and rows == 1
    status, body = await api.get("/api/push/vapid-public-key", api.other)
    assert status == 200 and body["public_key"] == first.public_key


async def test_concurrent_first_uses_agree_on_one_key_pair(settings: Settings) -> None:
    async with open_resources(settings) as one, open_resources(settings) as two:
        assert await one.db.fetchval("SELECT count(*) FROM vapid_keys") == 0
        keys = await asyncio.gather(*(vapid_keys(r) for r in (one, two) * 4))
    assert len({k.public_key for k in keys}) == 1


async def test_another_users_subscription_gets_nothing_and_cannot_delete_yours(
    api: Api, resources: Resources, service: PushService, worker: RunningWorker
) -> None:
    mine, my_id = await subscribe(api, service, api.user)
    theirs, their_id = await subscribe(api, service, api.other)
    sent = await push_to(resources, api.user_id)
    await eventually(lambda: _received(service, mine, 1), what="my push")
    # the push arrives before the worker records its answer: wait for the record
    assert await eventually(lambda: _status_is(resources, sent, my_id, "delivered"), what="it")
    assert list(await statuses(resources, sent)) == [my_id]  # no delivery for theirs
    assert service.received_by(theirs) == [] and theirs.token not in service.answered
    status, _ = await _delete(api, api.other, my_id)
    assert status == 404
    _, listed = await api.get("/api/push/subscriptions", api.other)
    assert [s["id"] for s in listed["items"]] == [their_id]
    status, body = await _delete(api, api.user, my_id)
    assert status == 200 and body == {"id": my_id, "deleted": True}


async def test_the_same_endpoint_again_is_idempotent_and_moves_to_a_new_user(
    api: Api, resources: Resources, service: PushService
) -> None:
    browser, first = await subscribe(api, service, api.user)
    status, again = await api.post("/api/push/subscriptions", api.user, browser.to_json())
    assert status == 201 and again["id"] == first
    _, listed = await api.get("/api/push/subscriptions", api.user)
    assert [s["id"] for s in listed["items"]] == [first]
    status, moved = await api.post("/api/push/subscriptions", api.other, browser.to_json())
    assert status == 201
    _, mine = await api.get("/api/push/subscriptions", api.user)
    _, theirs = await api.get("/api/push/subscriptions", api.other)
    assert mine["items"] == [] and [s["id"] for s in theirs["items"]] == [moved["id"]]


async def test_a_pending_delivery_moves_with_nothing_when_its_endpoint_changes_hands(
    api: Api, resources: Resources, service: PushService
) -> None:
    """A delivery meant for the old owner is dropped, not sent to the new owner's account."""
    browser, first = await subscribe(api, service, api.user)
    sent = await push_to(resources, api.user_id)  # no worker: the delivery stays pending
    assert await statuses(resources, sent) == {first: "pending"}
    await api.post("/api/push/subscriptions", api.other, browser.to_json())
    assert await statuses(resources, sent) == {}


async def test_bad_subscriptions_are_422(api: Api, service: PushService) -> None:
    browser = service.browser("unused")
    good = browser.to_json()
    bad_bodies = [
        {**good, "endpoint": "ftp://push.example.org/x"},
        {**good, "keys": {**good["keys"], "p256dh": good["keys"]["p256dh"][:-4]}},
        {**good, "keys": {**good["keys"], "p256dh": "BA" + "A" * 85}},  # not on the curve
        {**good, "keys": {**good["keys"], "auth": good["keys"]["auth"] + "AAAA"}},
        {**good, "keys": {**good["keys"], "auth": "not base64!"}},
        {"endpoint": good["endpoint"]},
    ]
    for body in bad_bodies:
        status, answer = await api.post("/api/push/subscriptions", api.user, body)
        assert status == 422, (body, answer)


async def test_the_sweeper_queues_deliveries_whose_job_was_never_queued(
    api: Api, resources: Resources, service: PushService
) -> None:
    browser, subscription_id = await subscribe(api, service, api.user)
    # the crash between commit and enqueue: the delivery is stored, its job never queued
    async with resources.db.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO notifications (recipient_id, title, message, level, channels)
               VALUES ($1, 'lost', 'after a crash', 'info', '{push}')""",
            api.user_id,
        )
        sent = await conn.fetchval("SELECT max(id) FROM notifications")
        await push_db.plan_deliveries(conn, [sent])
    assert await push_channel.sweep(resources) == {"requeued": 0, "expired": 0}  # too young
    await resources.db.execute(
        "UPDATE push_deliveries SET created_at = now() - interval '10 minutes'"
    )
    assert (await push_channel.sweep(resources))["requeued"] == 1
    assert (await push_channel.sweep(resources))["requeued"] == 0  # same job id: not twice
    running = RunningWorker(resources, ["default"])
    try:
        (got,) = await eventually(lambda: _received(service, browser, 1), what="the swept push")
    finally:
        await running.close()
    assert got.payload["title"] == "lost"
    assert await statuses(resources, sent) == {subscription_id: "delivered"}


async def _received(service: PushService, browser: Browser, n: int) -> list[Any] | None:
    got = service.received_by(browser)
    return got if len(got) >= n else None


async def _status_is(resources: Resources, sent: int, subscription_id: int, wanted: str) -> bool:
    return (await statuses(resources, sent)).get(subscription_id) == wanted


async def _delete(api: Api, token: str, subscription_id: int) -> tuple[int, Any]:
    response = await api.client.delete(
        f"/api/push/subscriptions/{subscription_id}", headers=api.auth(token)
    )
    return response.status, await response.json()


async def test_the_push_service_refuses_a_push_signed_with_another_key(
    service: PushService,
) -> None:
    """The fake service is as strict as a real one: what it accepts above was signed right."""
    trusted, other = new_keys(), new_keys()
    browser = service.browser(trusted.public_key)
    keys = browser.to_json()["keys"]
    subscription = SubscriptionKeys(browser.endpoint, keys["p256dh"], keys["auth"])
    push = Push(b'{"title": "x"}', ttl_s=60, urgency="low")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(PushError) as refused:
            await send_push(session, subscription, push, other, "mailto:a@example.org", True)
        assert refused.value.status == 403 and not refused.value.transient
        assert await send_push(session, subscription, push, trusted, "mailto:a@example.org", True)
    assert [r.payload for r in service.received_by(browser)] == [{"title": "x"}]
    assert service.answered[browser.token] == [403, 201]
