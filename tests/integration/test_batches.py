"""A batch tells its owner once, at its end, how its jobs went; its jobs do not notify one by one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.engine import RunningWorker
from tests.support.jobs import broken, echo
from tests.support.waiting import eventually
from voicepipe import keys
from voicepipe.errors import InvalidInput
from voicepipe.history.recorder import record_pending
from voicepipe.resources import Resources
from voicepipe.services import batches


async def _inbox(api: Api, token: str) -> list[dict[str, Any]]:
    status, body = await api.get("/api/jobs/notifications", token)
    assert status == 200, body
    return list(body["items"])


async def test_a_batch_notifies_its_owner_once_at_its_end(resources: Resources, api: Api) -> None:
    batch_id = await batches.open_batch(resources, "nightly import", 5, owner_id=api.user_id)
    for value in range(4):
        await echo.enqueue(resources, value=value, batch_id=batch_id, owner_id=api.user_id)
    await broken.enqueue(resources, batch_id=batch_id, owner_id=api.user_id)
    worker = RunningWorker(resources, ["default"])
    try:
        (told,) = await eventually(
            lambda: _inbox(api, api.user), timeout_s=20, what="the batch's notification"
        )
        await record_pending(resources)  # every job recorded: a late notification would show now
        assert await batches.close_finished_batches(resources, ["any-job"]) == []
    finally:
        await worker.close()
    assert (told["title"], told["level"]) == ("Batch nightly import finished", "warning")
    assert told["message"] == "4 of 5 jobs succeeded, 1 failed"
    assert told["data"]["batch_id"] == batch_id and told["data"]["failed"] == 1
    assert [n["title"] for n in await _inbox(api, api.user)] == [told["title"]]  # no job alone
    summary = await batches.get_batch(resources, batch_id)
    assert summary.closed_at is not None and summary.finished == 5
    assert not await resources.redis.sismember(keys.OPEN_BATCHES, batch_id)
    assert await _inbox(api, api.other) == []


async def test_the_sweep_closes_a_batch_the_hook_missed(resources: Resources, api: Api) -> None:
    batch_id = await batches.open_batch(resources, "lost hint", 2)
    await resources.redis.delete(keys.OPEN_BATCHES)  # as if Redis had lost it
    first = await echo.enqueue(resources, value=1, batch_id=batch_id)
    second = await echo.enqueue(resources, value=2, batch_id=batch_id)
    worker = RunningWorker(resources, ["default"])
    try:
        await first.result(timeout_s=10)
        await second.result(timeout_s=10)
    finally:
        await worker.close()
    await record_pending(resources)
    assert await _inbox(api, api.admin) == []  # the hook had no hint: nothing told yet
    (closed,) = await batches.close_done_batches(resources)
    assert (closed.id, closed.succeeded, closed.owner_id) == (batch_id, 2, None)
    (told,) = await _inbox(api, api.admin)  # no owner: the admins are told
    assert told["level"] == "success" and told["message"] == "2 of 2 jobs succeeded"
    assert await batches.close_done_batches(resources) == []


async def test_an_empty_batch_is_refused(resources: Resources) -> None:
    with pytest.raises(InvalidInput, match="at least one job"):
        await batches.open_batch(resources, "nothing", 0)
