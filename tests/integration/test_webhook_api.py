"""The webhook endpoints API: register (secret shown once), list, delete, read deliveries with
their attempts, redeliver; everyone reaches only their own; URLs vetted at registration."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.engine import RunningWorker
from tests.support.receivers import (
    Receiver,
    receiver_fixture,  # noqa: F401  (the fixture)
)
from tests.support.waiting import eventually
from voicepipe.resources import Resources
from voicepipe.services.notifications import send_notification
from voicepipe.settings import Settings
from voicepipe.web.app import init_app


@pytest.fixture
async def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_private": True})


async def _register(api: Api, token: str, receiver: Receiver, **body: Any) -> dict[str, Any]:
    status, created = await api.post("/api/webhooks", token, {"url": receiver.url, **body})
    assert status == 201, created
    receiver.secret = created["secret"]
    return dict(created)


async def _delete(api: Api, path: str, token: str) -> tuple[int, Any]:
    response = await api.client.delete(path, headers=api.auth(token))
    return response.status, await response.json()


async def test_the_secret_is_shown_once_and_only_the_owner_sees_the_endpoint(
    api: Api, receiver: Receiver
) -> None:
    created = await _register(api, api.user, receiver)
    assert created["secret"].startswith("whsec_") and created["url"] == receiver.url
    assert created["events"] == ["notification.*"] and created["active"] is True
    status, listed = await api.get("/api/webhooks", api.user)
    assert status == 200 and [e["id"] for e in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0] and created["secret"] not in str(listed)
    hook = f"/api/webhooks/{created['id']}"
    for stranger in (api.other, api.admin):  # not theirs, admin or not: 404
        assert (await api.get("/api/webhooks", stranger)) == (200, {"items": []})
        assert (await api.get(f"{hook}/deliveries", stranger))[0] == 404
        assert (await api.post(f"{hook}/deliveries/1/redeliver", stranger))[0] == 404
        assert (await _delete(api, hook, stranger))[0] == 404
    assert (await _delete(api, hook, api.user)) == (200, {"id": created["id"], "deleted": True})
    assert (await api.get("/api/webhooks", api.user)) == (200, {"items": []})
    assert (await _delete(api, hook, api.user))[0] == 404


async def test_deliveries_list_their_attempts_and_a_redelivery_keeps_the_webhook_id(
    api: Api, resources: Resources, receiver: Receiver
) -> None:
    created = await _register(api, api.user, receiver)
    hook = f"/api/webhooks/{created['id']}"
    for title in ("one", "two", "three"):
        await send_notification(
            resources, title, "m", channels=["webhook"], recipient_id=api.user_id
        )
    worker = RunningWorker(resources, ["default"])
    try:

        async def page(path: str) -> dict[str, Any] | None:
            status, body = await api.get(path, api.user)
            assert status == 200, body
            done = all(d["status"] == "delivered" for d in body["items"])
            return body if done and body["items"] else None

        first = await eventually(lambda: page(f"{hook}/deliveries?limit=2"), what="deliveries")
        assert first is not None
        assert [d["event"] for d in first["items"]] == ["notification.info"] * 2
        rest = await api.get(f"{hook}/deliveries?limit=2&cursor={first['next_cursor']}", api.user)
        assert rest[0] == 200 and len(rest[1]["items"]) == 1 and rest[1]["next_cursor"] is None
        ids = [d["id"] for d in first["items"]] + [rest[1]["items"][0]["id"]]
        assert ids == sorted(ids, reverse=True)  # newest first
        newest = first["items"][0]
        (attempt,) = newest["attempts"]
        assert (attempt["outcome"], attempt["status_code"], attempt["answer"]) == (
            "delivered", 200, "ok",
        )  # fmt: skip
        assert attempt["latency_ms"] > 0 and attempt["error"] is None
        status, again = await api.post(f"{hook}/deliveries/{newest['id']}/redeliver", api.user)
        assert status == 202 and again["msg_id"] == newest["msg_id"]

        async def redelivered() -> dict[str, Any] | None:
            body = await page(f"{hook}/deliveries?limit=1")
            return body if body and len(body["items"][0]["attempts"]) == 2 else None

        redone = await eventually(redelivered, what="the redelivery")
        assert redone is not None
        after = redone["items"][0]
    finally:
        await worker.close()
    assert [a["job_id"] for a in after["attempts"]] == [
        f"webhook:{newest['id']}:1",
        f"webhook:{newest['id']}:redeliver:1",
    ]
    assert after["redeliveries"] == 1 and after["attempt_count"] == 2
    assert [r.msg_id for r in receiver.requests].count(newest["msg_id"]) == 2
    assert receiver.duplicates == 1 and receiver.bad_signatures == 0
    assert len(receiver.events) == 3


async def test_bad_urls_and_events_are_refused_with_a_reason(
    api: Api, settings: Settings, receiver: Receiver
) -> None:
    guarded = settings.model_copy(update={"webhook_allow_private": False})
    async with TestClient(TestServer(init_app(guarded))) as client:
        headers = api.auth(api.user)
        response = await client.post("/api/webhooks", json={"url": receiver.url}, headers=headers)
        body = await response.json()
        assert (
            response.status == 400 and "127.0.0.1 is a loopback address" in body["error"]["message"]
        )
        metadata = {"url": "http://169.254.169.254/latest/meta-data"}
        response = await client.post("/api/webhooks", json=metadata, headers=headers)
        assert (
            response.status == 400 and "link-local" in (await response.json())["error"]["message"]
        )
        assert (await client.get("/api/webhooks", headers=headers)).status == 200
        assert (await (await client.get("/api/webhooks", headers=headers)).json()) == {"items": []}
    cases = [
        ({"url": "ftp://example.org/x"}, 400, "http or https"),
        ({"url": receiver.url, "events": ["nope"]}, 400, "unknown webhook event 'nope'"),
        ({"url": receiver.url, "events": ["job.*"]}, 403, "job events are for admins"),
        ({"url": receiver.url, "secret": "mine"}, 422, "body.secret"),
        ({}, 422, "body.url"),
    ]
    for body, status, message in cases:
        got, answer = await api.post("/api/webhooks", api.user, body)
        assert got == status and message in answer["error"]["message"], (body, answer)
    admin = await _register(api, api.admin, receiver, events=["job.failure", "job.failure"])
    assert admin["events"] == ["job.failure"]


async def test_a_delivery_still_pending_cannot_be_redelivered(
    api: Api, resources: Resources, receiver: Receiver
) -> None:
    created = await _register(api, api.user, receiver)
    hook = f"/api/webhooks/{created['id']}"
    await send_notification(resources, "t", "m", channels=["webhook"], recipient_id=api.user_id)
    status, page = await api.get(f"{hook}/deliveries", api.user)  # no worker runs: still pending
    assert status == 200 and [d["status"] for d in page["items"]] == ["pending"]
    delivery_id = page["items"][0]["id"]
    status, body = await api.post(f"{hook}/deliveries/{delivery_id}/redeliver", api.user)
    assert status == 409 and "still being attempted" in body["error"]["message"]
    status, body = await api.post(f"{hook}/deliveries/{delivery_id + 1}/redeliver", api.user)
    assert status == 404 and f"no delivery {delivery_id + 1}" in body["error"]["message"]
