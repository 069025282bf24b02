"""Notifications: stored per recipient, published live, read through the API by their recipient
only; a job that fails for good notifies its owner (the admins when it has none) by itself."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.engine import RunningWorker, live_events
from tests.support.jobs import broken, flaky
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.errors import InvalidInput, NotFound
from voicepipe.history.recorder import record_pending
from voicepipe.resources import Resources
from voicepipe.services.notifications import send_job_notification, send_notification


async def _inbox(api: Api, token: str, query: str = "") -> list[dict[str, Any]]:
    status, body = await api.get(f"/api/jobs/notifications{query}", token)
    assert status == 200, body
    return list(body["items"])


async def test_a_notification_reaches_its_recipient_only(resources: Resources, api: Api) -> None:
    async with live_events(resources, keys.NOTIFICATIONS) as live:
        (sent,) = await send_notification(
            resources, "Upload ready", "3 chunks", "success", recipient_id=api.user_id
        )
        message = await asyncio.wait_for(live.get(), 5)
    assert message["type"] == "notification" and message["id"] == sent.id
    assert message["recipient_id"] == api.user_id and message["title"] == "Upload ready"
    (mine,) = await _inbox(api, api.user)
    assert (mine["id"], mine["level"], mine["read_at"]) == (sent.id, "success", None)
    assert await _inbox(api, api.other) == []
    status, _ = await api.post(f"/api/jobs/notifications/{sent.id}/read", api.other)
    assert status == 404  # someone else's is not found
    status, read = await api.post(f"/api/jobs/notifications/{sent.id}/read", api.user)
    assert status == 200 and read["read_at"] is not None
    assert await _inbox(api, api.user, "?unread=true") == []
    assert len(await _inbox(api, api.user)) == 1


async def test_read_all_and_paging(resources: Resources, api: Api) -> None:
    for n in range(5):
        await send_notification(resources, f"n{n}", "m", recipient_id=api.user_id)
    status, page = await api.get("/api/jobs/notifications?limit=2", api.user)
    assert status == 200 and [i["title"] for i in page["items"]] == ["n4", "n3"]
    status, rest = await api.get(
        f"/api/jobs/notifications?limit=10&cursor={page['next_cursor']}", api.user
    )
    assert [i["title"] for i in rest["items"]] == ["n2", "n1", "n0"] and rest["next_cursor"] is None
    status, marked = await api.post("/api/jobs/notifications/read-all", api.user)
    assert status == 200 and marked == {"marked": 5}
    assert await _inbox(api, api.user, "?unread=true") == []


async def test_admin_notifications_go_to_every_admin_and_the_system_view(
    resources: Resources, api: Api
) -> None:
    sent = await send_notification(
        resources, "Queue backed up", "consensus: 5 min", "warning", recipient_type="admin"
    )
    assert len(sent) == 1  # the one admin of the test
    status, system = await api.get("/api/jobs/notifications/system", api.admin)
    assert status == 200 and [i["title"] for i in system["items"]] == ["Queue backed up"]
    status, _ = await api.get("/api/jobs/notifications/system", api.user)
    assert status == 403
    everyone = await send_notification(resources, "Maintenance", "tonight", recipient_type="all")
    assert len(everyone) == 3 and await _inbox(api, api.other) != []


async def test_bad_notifications_are_refused_clearly(resources: Resources, api: Api) -> None:
    with pytest.raises(InvalidInput, match="unknown level 'loud'"):
        await send_notification(resources, "t", "m", "loud", recipient_id=api.user_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="unknown channel 'carrier-pigeon'"):
        await send_notification(
            resources, "t", "m", channels=["carrier-pigeon"], recipient_id=api.user_id
        )  # type: ignore[list-item]
    with pytest.raises(NotFound, match="no user with id 999999"):
        await send_notification(resources, "t", "m", recipient_id=999999)


async def test_a_job_status_notifies_each_recipient_once(resources: Resources, api: Api) -> None:
    for _ in range(3):
        await send_job_notification(resources, "j1", "t_x", "failure", "boom", owner_id=api.user_id)
    (only,) = await _inbox(api, api.user)
    assert (only["title"], only["level"], only["job_id"]) == ("t_x failed", "error", "j1")


async def test_a_job_that_fails_for_good_notifies_its_owner_by_itself(
    resources: Resources, api: Api
) -> None:
    mine = await broken.enqueue(resources, owner_id=api.user_id)
    ownerless = await broken.enqueue(resources)
    retried = await flaky.enqueue(resources, succeed_on=2, owner_id=api.user_id)
    worker = RunningWorker(resources, ["default"])
    try:

        async def notified() -> list[dict[str, Any]]:
            return await _inbox(api, api.user)

        (failure,) = await eventually(notified, timeout_s=20, what="the owner's notification")
        await retried.result(timeout_s=20)
        system = await eventually(
            lambda: _inbox(api, api.admin), timeout_s=20, what="the admins' notification"
        )
    finally:
        await worker.close()
    await record_pending(resources)  # everything recorded: a late notification would show now
    assert failure["job_id"] == mine.job_id and "corrupt input" in failure["message"]
    assert [n["job_id"] for n in await _inbox(api, api.user)] == [mine.job_id]  # not the retry
    assert [n["job_id"] for n in system] == [ownerless.job_id]
    assert await _inbox(api, api.other) == []
