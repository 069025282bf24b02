"""Webhooks with real `voicepipe worker` processes: job events reach an admin's endpoint, and a
worker killed mid-request has the delivery made again, which the receiver keeps exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.receivers import Answer, Receiver, receiving
from tests.support.waiting import eventually
from tests.support.workers import n_live, worker_pid, worker_processes
from voicepipe.db import webhooks as webhooks_db
from voicepipe.db.users import UserRow
from voicepipe.resources import Resources
from voicepipe.services.accounts import create_user
from voicepipe.services.notifications import send_notification
from voicepipe.services.notifications.webhook_endpoints import create_endpoint
from voicepipe.settings import Settings
from voicepipe.tasks.ping import ping


@pytest.fixture
async def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_private": True})


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    with worker_processes(settings, tmp_path, 1, VOICEPIPE_WEBHOOK_ALLOW_PRIVATE="true") as procs:
        yield procs


async def _owner(resources: Resources, email: str, admin: bool = False) -> UserRow:
    created = await create_user(resources.db, email, admin=admin)
    return UserRow(created.id, email, created.role, datetime.now(UTC))


async def _endpoint(
    resources: Resources, owner: UserRow, receiver: Receiver, events: list[str] | None = None
) -> int:
    endpoint = await create_endpoint(resources, owner, receiver.url, events)
    receiver.secret = endpoint.secret
    return endpoint.id


async def test_an_admin_subscribed_to_job_events_gets_a_failure_from_a_real_worker(
    resources: Resources, worker: list[subprocess.Popen[bytes]]
) -> None:
    admin = await _owner(resources, "admin@example.org", admin=True)
    async with receiving() as receiver:
        endpoint_id = await _endpoint(resources, admin, receiver, ["job.*"])
        await eventually(lambda: n_live(resources, 1), timeout_s=30, what="the worker to beat")
        succeeded = await ping.enqueue(resources, payload="fine")
        failed = await ping.enqueue(resources, no_such_argument=1)  # fails: bad arguments

        async def both() -> bool:
            return len(receiver.events) >= 2

        await eventually(both, timeout_s=20, what="both job events to arrive")

        # the delivery jobs' own successes are recorded too, and deliver nothing (a delivery
        # reaches the receiver before the recorder has folded its job's events)
        async def recorded() -> bool:
            infos = await resources.db.fetch(
                "SELECT status FROM jobs WHERE task_name = 'deliver_webhook'"
            )
            return len(infos) == 2 and all(i["status"] == "success" for i in infos)

        await eventually(recorded, timeout_s=20, what="the delivery jobs to be recorded")
        await eventually(lambda: n_live(resources, 1), what="the worker to be alive still")
    (failure,) = receiver.of_type("job.failure")
    assert failure["data"]["task_id"] == failed.job_id and failure["data"]["status"] == "failure"
    assert "traceback" not in failure["data"] and failure["data"]["error"]
    (success,) = receiver.of_type("job.success")
    assert success["data"]["task_id"] == succeeded.job_id
    deliveries = await webhooks_db.delivery_page(resources.db, endpoint_id, 10, None)
    assert sorted(d.event for d in deliveries) == ["job.failure", "job.success"]
    assert receiver.bad_signatures == 0 and receiver.duplicates == 0


async def test_a_worker_killed_mid_request_has_the_delivery_made_again_and_kept_once(
    resources: Resources, worker: list[subprocess.Popen[bytes]]
) -> None:
    user = await _owner(resources, "user@example.org")
    async with receiving() as receiver:
        endpoint_id = await _endpoint(resources, user, receiver)
        receiver.script = [Answer(hold=True)]  # the first request gets no answer
        await eventually(lambda: n_live(resources, 1), timeout_s=30, what="the worker to beat")
        await send_notification(resources, "once", "m", channels=["webhook"], recipient_id=user.id)

        async def held() -> bool:
            return receiver.holding.is_set()

        await eventually(held, timeout_s=20, what="the first request to arrive")
        (delivery,) = await webhooks_db.delivery_page(resources.db, endpoint_id, 10, None)
        (in_flight,) = delivery.attempts
        assert in_flight.outcome is None and in_flight.worker is not None
        os.kill(await worker_pid(resources, in_flight.worker), signal.SIGKILL)

        async def delivered() -> webhooks_db.WebhookDelivery | None:
            (d,) = await webhooks_db.delivery_page(resources.db, endpoint_id, 10, None)
            return d if d.status == "delivered" else None

        done = await eventually(delivered, timeout_s=30, what="the delivery after the restart")
        assert done is not None
    assert [r.msg_id for r in receiver.requests] == [done.msg_id, done.msg_id]  # sent twice
    assert list(receiver.events) == [done.msg_id] and receiver.duplicates == 1  # kept once
    first, second = done.attempts
    assert (first.job_id, first.outcome, first.status_code) == (
        in_flight.job_id,
        "interrupted",
        None,
    )
    assert first.error is not None and "worker" in first.error
    assert (second.job_id, second.outcome, second.status_code) == (
        in_flight.job_id,
        "delivered",
        200,
    )
    assert second.worker != first.worker  # the restarted worker process (or another) made it
