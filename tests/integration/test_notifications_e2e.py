"""End to end, every channel at once: a user's job fails for good in a real worker; the failure
reaches that user's socket, inbox, mailbox (one digest), webhook endpoint (verified, once) and
browser (decrypted, once), and nothing of it reaches another user."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.engine import RunningWorker
from tests.support.jobs import broken
from tests.support.push_service import Browser, PushService
from tests.support.receivers import Receiver, receiving
from tests.support.smtp import (
    SmtpServer,
    smtp_fixture,  # noqa: F401  (the fixture)
    text_of,
)
from tests.support.waiting import eventually
from tests.support.ws import joined, until
from voicepipe.engine.running import running_entries
from voicepipe.history.recorder import record_pending
from voicepipe.resources import Resources
from voicepipe.services.notifications import send_notification
from voicepipe.settings import Settings

DIGEST_S = 1


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    """Mail to the local SMTP server; webhook receivers and the push service on loopback."""
    return settings.model_copy(
        update={"smtp_url": smtp.url, "email_digest_s": DIGEST_S, "webhook_allow_private": True}
    )


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    service = await PushService().start()
    yield service
    await service.close()


async def _register_webhook(api: Api, token: str, receiver: Receiver) -> None:
    status, created = await api.post("/api/webhooks", token, {"url": receiver.url})
    assert status == 201, created
    receiver.secret = created["secret"]


async def _subscribe_browser(api: Api, token: str, service: PushService) -> Browser:
    status, key = await api.get("/api/push/vapid-public-key", token)
    assert status == 200, key
    browser = service.browser(key["public_key"])
    status, body = await api.post("/api/push/subscriptions", token, browser.to_json())
    assert status == 201, body
    return browser


async def _inbox(api: Api, token: str) -> list[dict[str, Any]]:
    status, body = await api.get("/api/jobs/notifications", token)
    assert status == 200, body
    return list(body["items"])


async def _settled(resources: Resources) -> bool:
    """Nothing left to deliver: no job waiting or running on the default queue."""
    redis = resources.redis
    waiting = await redis.zcard("voicepipe:queue:default") + await redis.zcard(
        "voicepipe:deferred:default"
    )
    return waiting == 0 and not await running_entries(redis, ["default"])


async def test_a_failed_job_reaches_its_owner_on_every_channel_once_and_nobody_else(
    api: Api, resources: Resources, smtp: SmtpServer, push_service: PushService
) -> None:
    async with receiving() as mine, receiving() as theirs:
        await _register_webhook(api, api.user, mine)
        await _register_webhook(api, api.other, theirs)
        my_browser = await _subscribe_browser(api, api.user, push_service)
        their_browser = await _subscribe_browser(api, api.other, push_service)
        my_socket = await joined(api.client, api.user)
        their_socket = await joined(api.client, api.other)
        worker = RunningWorker(resources, ["default"])
        try:
            job = await broken.enqueue(resources, owner_id=api.user_id)
            live = await until(my_socket, lambda m: m["type"] == "notification", timeout_s=20)
            told = live[-1]["notification"]
            assert (told["job_id"], told["level"]) == (job.job_id, "error")
            assert "corrupt input" in told["message"]
            # the same socket showed the job's own events as it went, up to its failure
            events = [m["event"] for m in live if m["type"] == "job"]
            assert {e["job_id"] for e in events} == {job.job_id}
            assert "failure" in [e["event"] for e in events]

            (listed,) = await _inbox(api, api.user)
            assert (listed["id"], listed["job_id"]) == (told["id"], job.job_id)

            arrived = {
                "the digest": lambda: smtp.inbox.to("user@example.org"),
                "the webhook": lambda: mine.of_type("notification.error"),
                "the push": lambda: push_service.received_by(my_browser),
            }
            for what, got in arrived.items():
                await eventually(lambda got=got: _any(got), timeout_s=20, what=what)

            # the other user: a notification of their own arrives, so theirs would have too
            await send_notification(resources, "Yours", "only yours", recipient_id=api.other_id)
            (first,) = await until(their_socket, lambda m: m["type"] == "notification")
            assert first["notification"]["title"] == "Yours"
            await eventually(lambda: _settled(resources), timeout_s=20, what="deliveries done")
            await record_pending(resources)
        finally:
            await worker.close()
            await my_socket.close()
            await their_socket.close()

        (mail,) = smtp.inbox.to("user@example.org")  # after the window, once
        assert "t_broken failed" in text_of(mail) and "corrupt input" in text_of(mail)
        (hook,) = mine.of_type("notification.error")
        assert hook["data"]["job_id"] == job.job_id and mine.bad_signatures == 0
        assert mine.duplicates == 0
        (push,) = push_service.received_by(my_browser)
        assert push.payload["level"] == "error" and "failed" in push.payload["title"]

        assert smtp.inbox.to("other@example.org") == []  # "Yours" is info: not mailed
        assert [e["data"]["title"] for e in theirs.events.values()] == ["Yours"]
        assert [p.payload["title"] for p in push_service.received_by(their_browser)] == ["Yours"]
        assert [n["title"] for n in await _inbox(api, api.other)] == ["Yours"]


async def _any(got: Callable[[], list[Any]]) -> bool:
    return bool(got())
