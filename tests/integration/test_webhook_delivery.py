"""Webhook deliveries against real receivers: routing, retries, Retry-After, 410, auto-disable,
redirects and the sweeper. Attempts are made by real in-loop workers or by calling the attempt
directly (with a shortened schedule, or a given `now`, where waiting is not an option)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import voicepipe.tasks  # noqa: F401  (registers deliver_webhook)
from tests.support.engine import RunningWorker
from tests.support.receivers import (
    Answer,
    Receiver,
    receiver_fixture,  # noqa: F401  (the fixture)
    receiving,
)
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.db import notifications as notifications_db
from voicepipe.db import webhooks as webhooks_db
from voicepipe.db.users import UserRow
from voicepipe.resources import Resources
from voicepipe.services.accounts import create_user
from voicepipe.services.notifications import send_notification, webhook_channel
from voicepipe.services.notifications.webhook_delivery import attempt_delivery, sweep_deliveries
from voicepipe.services.notifications.webhook_endpoints import create_endpoint
from voicepipe.settings import Settings

SHORT_S = (0.05, 0.05, 0.05)


@pytest.fixture
async def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_private": True})


async def _user(resources: Resources, email: str) -> UserRow:
    created = await create_user(resources.db, email)
    return UserRow(id=created.id, email=email, role="user", created_at=datetime.now(UTC))


async def _endpoint(resources: Resources, owner: UserRow, receiver: Receiver) -> int:
    endpoint = await create_endpoint(resources, owner, receiver.url, None)
    receiver.secret = endpoint.secret
    return endpoint.id


async def _deliveries(resources: Resources, endpoint_id: int) -> list[webhooks_db.WebhookDelivery]:
    return await webhooks_db.delivery_page(resources.db, endpoint_id, 100, None)


async def _notify(resources: Resources, user: UserRow, title: str) -> int:
    """Send a notification on the webhook channel; the id of its one delivery."""
    sent = await send_notification(
        resources, title, "body", channels=["webhook"], recipient_id=user.id
    )
    assert len(sent) == 1
    row = await resources.db.fetchrow(
        "SELECT id FROM webhook_deliveries WHERE notification_id = $1", sent[0].id
    )
    assert row is not None, "no delivery was planned"
    return int(row["id"])


def _log(delivery: webhooks_db.WebhookDelivery) -> list[tuple[Any, ...]]:
    return [(a.job_id, a.outcome, a.status_code) for a in delivery.attempts]


async def test_a_users_notification_reaches_only_their_endpoint(resources: Resources) -> None:
    alice, bob = (
        await _user(resources, "alice@example.org"),
        await _user(resources, "bob@example.org"),
    )
    async with receiving() as alices, receiving() as bobs:
        await _endpoint(resources, alice, alices)
        await _endpoint(resources, bob, bobs)
        worker = RunningWorker(resources, ["default"])
        try:
            await _notify(resources, alice, "for alice")
            await eventually(lambda: _has(alices, 1), what="alice's endpoint to get hers")
            await _notify(resources, bob, "for bob")
            await eventually(lambda: _has(bobs, 1), what="bob's endpoint to get his")
        finally:
            await worker.close()
    (event,) = alices.events.values()
    assert event["type"] == "notification.info"
    assert event["data"]["title"] == "for alice" and event["data"]["recipient_id"] == alice.id
    assert [e["data"]["title"] for e in bobs.events.values()] == ["for bob"]
    assert alices.bad_signatures == bobs.bad_signatures == 0


async def _has(receiver: Receiver, n: int) -> bool:
    return len(receiver.events) >= n


async def test_a_500_is_retried_as_a_new_job_then_delivered_with_the_same_id(
    resources: Resources, receiver: Receiver
) -> None:
    user = await _user(resources, "u@example.org")
    endpoint_id = await _endpoint(resources, user, receiver)
    receiver.script = [Answer(500, text="boom")]
    delivery_id = await _notify(resources, user, "retry me")
    # attempt 1 by hand with a short schedule: it plans attempt 2 as job webhook:<id>:2
    did = await attempt_delivery(resources, delivery_id, 1, f"webhook:{delivery_id}:1", "test",
                                 schedule_s=SHORT_S)  # fmt: skip
    assert did == "retry: HTTP 500"
    (pending,) = await _deliveries(resources, endpoint_id)
    assert pending.status == "pending" and pending.next_attempt_at is not None
    endpoint = await webhooks_db.endpoint_of(resources.db, endpoint_id, user.id)
    assert endpoint is not None and endpoint.failing_since is not None
    worker = RunningWorker(resources, ["default"])  # runs the queued :1 (no longer due) and :2
    try:

        async def delivered() -> webhooks_db.WebhookDelivery | None:
            (d,) = await _deliveries(resources, endpoint_id)
            return d if d.status == "delivered" else None

        done = await eventually(delivered, what="the retry to deliver it")
        assert done is not None
    finally:
        await worker.close()
    assert _log(done) == [
        (f"webhook:{delivery_id}:1", "retry", 500),
        (f"webhook:{delivery_id}:2", "delivered", 200),
    ]
    assert done.attempts[0].answer == "boom" and done.attempts[0].error == "HTTP 500"
    assert [r.msg_id for r in receiver.requests] == [done.msg_id, done.msg_id]
    assert receiver.duplicates == 1 and receiver.bad_signatures == 0
    endpoint = await webhooks_db.endpoint_of(resources.db, endpoint_id, user.id)
    assert endpoint is not None and endpoint.failing_since is None  # a success resets it


async def test_retry_after_is_honoured(resources: Resources, receiver: Receiver) -> None:
    user = await _user(resources, "u@example.org")
    endpoint_id = await _endpoint(resources, user, receiver)
    receiver.script = [Answer(503, headers={"Retry-After": "120"})]
    delivery_id = await _notify(resources, user, "busy")
    await attempt_delivery(resources, delivery_id, 1, f"webhook:{delivery_id}:1", "test",
                           schedule_s=SHORT_S)  # fmt: skip
    (delivery,) = await _deliveries(resources, endpoint_id)
    finished_at = delivery.attempts[0].finished_at
    assert delivery.next_attempt_at is not None and finished_at is not None
    assert (delivery.next_attempt_at - finished_at).total_seconds() == pytest.approx(120)
    # and the job waits in Redis for that time, not the 0.05 s of the schedule
    deferred = await resources.redis.zrange(keys.deferred("default"), 0, -1, withscores=True)
    due = {m.decode().split(":", 1)[1]: s for m, s in deferred}
    assert due[f"webhook:{delivery_id}:2"] / 1000 == pytest.approx(
        delivery.next_attempt_at.timestamp(), abs=0.01
    )


async def test_410_disables_the_endpoint_at_once_and_tells_its_owner(
    resources: Resources, receiver: Receiver
) -> None:
    user = await _user(resources, "u@example.org")
    endpoint_id = await _endpoint(resources, user, receiver)
    receiver.script = [Answer(410, text="gone")]
    delivery_id = await _notify(resources, user, "first")
    did = await attempt_delivery(resources, delivery_id, 1, f"webhook:{delivery_id}:1", "test")
    assert did == "gone: HTTP 410"
    endpoint = await webhooks_db.endpoint_of(resources.db, endpoint_id, user.id)
    assert endpoint is not None and not endpoint.active
    assert endpoint.disabled_reason == "it answered 410 Gone"
    (delivery,) = await _deliveries(resources, endpoint_id)
    assert delivery.status == "failed" and delivery.next_attempt_at is None
    told = await notifications_db.page_for(resources.db, user.id, 10, None)
    assert [n.title for n in told] == ["Webhook endpoint disabled"] and told[0].level == "warning"
    sent = await send_notification(
        resources, "second", "b", channels=["webhook"], recipient_id=user.id
    )
    assert len(sent) == 1  # sent, but the disabled endpoint gets no delivery
    assert len(await _deliveries(resources, endpoint_id)) == 1


async def test_an_endpoint_failing_for_the_window_is_disabled_and_a_success_resets_it(
    resources: Resources, receiver: Receiver, settings: Settings
) -> None:
    user = await _user(resources, "u@example.org")
    endpoint_id = await _endpoint(resources, user, receiver)
    window = timedelta(seconds=settings.webhook_disable_after_s)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    receiver.script = [Answer(500), Answer(200), Answer(500), Answer(500)]

    async def attempt(delivery_id: int, step: int, now: datetime) -> str:
        job_id = f"webhook:{delivery_id}:{step}"
        return await attempt_delivery(resources, delivery_id, step, job_id, "test", now=now)

    async def endpoint() -> webhooks_db.WebhookEndpoint:
        found = await webhooks_db.endpoint_of(resources.db, endpoint_id, user.id)
        assert found is not None
        return found

    first = await _notify(resources, user, "one")
    assert (await attempt(first, 1, t0)).startswith("retry")
    assert await attempt(first, 2, t0 + window - timedelta(minutes=1)) == "delivered: 200"
    assert (await endpoint()).failing_since is None and (await endpoint()).active
    second = await _notify(resources, user, "two")
    assert (await attempt(second, 1, t0 + window)).startswith("retry")
    assert (await endpoint()).active  # failing since t0 + window only: the success counted
    third = await _notify(resources, user, "three")  # planned, not attempted yet
    assert (await attempt(second, 2, t0 + 2 * window + timedelta(seconds=1))).startswith("retry")
    disabled = await endpoint()
    assert not disabled.active and disabled.disabled_reason is not None
    assert disabled.disabled_reason.startswith("every delivery failed for 120 h")
    told = await notifications_db.page_for(resources.db, user.id, 10, None)
    assert [n.data.get("webhook_id") for n in told] == [endpoint_id]
    statuses = {
        d.id: (d.status, d.next_attempt_at) for d in await _deliveries(resources, endpoint_id)
    }
    assert statuses == {
        first: ("delivered", None),
        second: ("failed", None),
        third: ("skipped", None),
    }
    # the job planned for the third finds nothing to do: nothing more is sent
    assert await attempt(third, 1, t0 + 3 * window) == "not due: the delivery is skipped"
    assert len(receiver.requests) == 4


async def test_a_redirect_is_not_followed(resources: Resources, receiver: Receiver) -> None:
    user = await _user(resources, "u@example.org")
    endpoint_id = await _endpoint(resources, user, receiver)
    receiver.script = [Answer(302, headers={"Location": "/elsewhere"})]
    delivery_id = await _notify(resources, user, "moved")
    await attempt_delivery(resources, delivery_id, 1, f"webhook:{delivery_id}:1", "test")
    (delivery,) = await _deliveries(resources, endpoint_id)
    assert delivery.attempts[0].status_code == 302
    assert delivery.attempts[0].error == "HTTP 302, a redirect to /elsewhere (not followed)"
    assert [r.path for r in receiver.requests] == ["/hook"]  # nothing asked for /elsewhere


async def test_the_sweeper_enqueues_a_delivery_a_crash_left_without_a_job_once(
    resources: Resources, receiver: Receiver
) -> None:
    user = await _user(resources, "u@example.org")
    endpoint_id = await _endpoint(resources, user, receiver)
    async with resources.db.acquire() as conn, conn.transaction():
        sent = await notifications_db.insert(
            conn, {user.id: ["webhook"]}, "lost", "m", "info", "user", None, {}, None
        )
        specs = await webhook_channel.plan(conn, resources, sent)
    assert len(specs) == 1  # and never enqueued: the process "crashed" after the commit
    assert not await resources.redis.exists(keys.job(specs[0].job_id))
    assert await sweep_deliveries(resources) == 1
    assert await sweep_deliveries(resources) == 0  # queued already: not queued twice
    worker = RunningWorker(resources, ["default"])
    try:
        await eventually(lambda: _has(receiver, 1), what="the swept delivery to arrive")
        (delivery,) = await _deliveries(resources, endpoint_id)
        await eventually(lambda: _delivered(resources, endpoint_id), what="it to be recorded")
    finally:
        await worker.close()
    assert await sweep_deliveries(resources) == 0  # delivered: nothing left to sweep
    assert len(receiver.requests) == 1 and delivery.msg_id in receiver.events


async def _delivered(resources: Resources, endpoint_id: int) -> bool:
    return all(d.status == "delivered" for d in await _deliveries(resources, endpoint_id))
