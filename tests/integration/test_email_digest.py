"""Email digests against a real SMTP server (aiosmtpd), run by a real worker: one mail per
recipient per window listing what is new, as their preferences allow, retried while the server
is down, dropped when it refuses for good, and swept up when its job was lost."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
from collections.abc import AsyncIterator, Awaitable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.engine import RunningWorker, job_events
from tests.support.smtp import (
    Inbox,
    SmtpServer,
    smtp_fixture,  # noqa: F401  (the fixture)
    text_of,
)
from tests.support.waiting import eventually
from tests.support.workers import n_live, worker_pid, worker_processes
from voicepipe import keys
from voicepipe.db import email_digests as digests_db
from voicepipe.db import notifications as notifications_db
from voicepipe.engine.registry import JobHandle, get_task
from voicepipe.engine.running import running_entries
from voicepipe.history import monitoring
from voicepipe.resources import Resources
from voicepipe.services.accounts import create_user
from voicepipe.services.notifications import send_job_notification, send_notification
from voicepipe.services.notifications.email_channel import SWEEP_MARGIN_S
from voicepipe.settings import Settings

WINDOW_S = 1
PUBLIC_URL = "https://voicepipe.example"


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return settings.model_copy(
        update={
            "smtp_url": smtp.url,
            "email_digest_s": WINDOW_S,
            "public_url": PUBLIC_URL + "/",
            "mail_from": "voicepipe <alerts@example.com>",
        }
    )


@pytest.fixture
async def start_worker(resources: Resources) -> AsyncIterator[Any]:
    """`start_worker()` runs a worker on the digest's and the sweeper's queues until the test ends."""
    running: list[RunningWorker] = []

    def start() -> None:
        running.append(RunningWorker(resources, ["default", "maintenance"]))

    yield start
    for worker in running:
        await worker.close()


async def mails(inbox: Inbox, count: int, to: str | None = None) -> list[EmailMessage]:
    """Wait until `count` mails (to `to`) arrived; returns them, oldest first."""

    async def arrived() -> list[EmailMessage] | None:
        got = inbox.to(to) if to else list(inbox.messages)
        return got if len(got) >= count else None

    return await eventually(arrived, timeout_s=15, what=f"{count} mails")


def listed(message: EmailMessage) -> list[str]:
    """The titles a digest lists, in order."""
    return re.findall(r"^\[[A-Z]+\] (.+)$", text_of(message), re.MULTILINE)


async def pending_count(resources: Resources) -> int:
    count: int = await resources.db.fetchval(
        "SELECT count(*) FROM notifications WHERE emailed_at IS NULL AND 'email' = ANY (channels)"
    )
    return count


async def error(resources: Resources, user_id: int, title: str) -> None:
    await send_notification(resources, title, "details", "error", recipient_id=user_id)


async def test_one_mail_per_window_lists_everything_since_the_last(
    resources: Resources, smtp: SmtpServer, start_worker: Any
) -> None:
    user = await create_user(resources.db, "ada@example.org")
    for n in range(3):
        await error(resources, user.id, f"Upload {n} failed")
    start_worker()
    (first,) = await mails(smtp.inbox, 1)
    assert first["To"] == "ada@example.org"
    assert first["Subject"] == "[voicepipe] 3 notifications (error)"
    assert listed(first) == ["Upload 0 failed", "Upload 1 failed", "Upload 2 failed"]
    assert f"See them all at {PUBLIC_URL}\n" in text_of(first)
    assert first["Message-ID"].startswith(f"<digest.{user.id}.")

    await error(resources, user.id, "Upload 3 failed")
    await error(resources, user.id, "Upload 4 failed")
    _, second = await mails(smtp.inbox, 2)
    assert listed(second) == ["Upload 3 failed", "Upload 4 failed"]
    assert second["Message-ID"] != first["Message-ID"]
    await eventually(lambda: _no_pending(resources), what="the second digest committed")
    sent_at = [
        row["emailed_at"]
        for row in await resources.db.fetch(
            "SELECT DISTINCT emailed_at FROM notifications ORDER BY emailed_at"
        )
    ]
    assert len(sent_at) == 2 and (sent_at[1] - sent_at[0]).total_seconds() >= WINDOW_S
    assert len(smtp.inbox.messages) == 2

    async def digest_jobs() -> set[bytes]:
        pattern = f"email-digest:{user.id}:*"
        found = await resources.redis.keys(keys.result(pattern))
        return set(found + await resources.redis.keys(keys.job(pattern)))

    await eventually(lambda: _at_least(digest_jobs(), 2), what="both results written")
    assert len(await digest_jobs()) == 2  # five notifications, two windows: one job each


async def put_preferences(api: Api, channels: dict[str, list[str]]) -> tuple[int, Any]:
    response = await api.client.put(
        "/api/notifications/preferences", headers=api.auth(api.user), json={"channels": channels}
    )
    return response.status, await response.json()


EVERY = ["redis", "database", "email", "webhook", "push"]
NO_EMAIL = ["redis", "database", "webhook", "push"]


async def test_info_is_mailed_only_once_the_user_asks_for_it(
    resources: Resources, api: Api, smtp: SmtpServer, start_worker: Any
) -> None:
    start_worker()
    await send_notification(resources, "Chunk 1 ready", "m", "info", recipient_id=api.user_id)
    await error(resources, api.user_id, "Upload failed")
    (first,) = await mails(smtp.inbox, 1)
    assert listed(first) == ["Upload failed"]  # the info one was not for email

    status, saved = await put_preferences(
        api, {"info": EVERY, "success": NO_EMAIL, "warning": NO_EMAIL, "error": EVERY,
              "critical": EVERY},
    )  # fmt: skip
    assert status == 200 and saved["channels"]["info"] == EVERY
    await send_notification(resources, "Chunk 2 ready", "m", "info", recipient_id=api.user_id)
    _, second = await mails(smtp.inbox, 2)
    assert listed(second) == ["Chunk 2 ready"]
    await eventually(lambda: _no_pending(resources), what="the digest committed")


async def test_a_muted_error_is_not_mailed_and_critical_always_is(
    resources: Resources, api: Api, smtp: SmtpServer, start_worker: Any
) -> None:
    quiet = {"info": NO_EMAIL, "success": NO_EMAIL, "warning": NO_EMAIL, "error": NO_EMAIL}
    status, body = await put_preferences(api, {**quiet, "critical": NO_EMAIL})
    assert status == 422
    assert body["error"]["message"] == "critical notifications cannot be muted (channel 'email')"
    assert (await put_preferences(api, {**quiet, "critical": EVERY}))[0] == 200

    start_worker()
    await error(resources, api.user_id, "Upload failed")
    await send_notification(resources, "Disk full", "m", "critical", recipient_id=api.user_id)
    (mail,) = await mails(smtp.inbox, 1)
    assert listed(mail) == ["Disk full"]
    channels = await resources.db.fetchval(
        "SELECT channels FROM notifications WHERE title = 'Upload failed'"
    )
    assert channels == ["redis", "database", "webhook", "push"]  # in the inbox, not the mail
    await eventually(lambda: _no_pending(resources), what="the digest committed")
    assert len(smtp.inbox.messages) == 1


async def test_the_same_job_failure_is_listed_once(
    resources: Resources, smtp: SmtpServer, start_worker: Any
) -> None:
    user = await create_user(resources.db, "ada@example.org")
    for _ in range(2):
        await send_job_notification(
            resources, "job-1", "process_audio_recording", "failure", "decoder crashed",
            owner_id=user.id,
        )  # fmt: skip
    await send_job_notification(
        resources, "job-2", "calculate_consensus", "failure", "no quorum", owner_id=user.id
    )
    start_worker()
    (mail,) = await mails(smtp.inbox, 1)
    assert listed(mail) == ["process_audio_recording failed", "calculate_consensus failed"]
    assert text_of(mail).count("job job-1") == 1


async def test_each_user_gets_their_own_mail_only(
    resources: Resources, smtp: SmtpServer, start_worker: Any
) -> None:
    ada = await create_user(resources.db, "ada@example.org")
    bob = await create_user(resources.db, "bob@example.org")
    await error(resources, ada.id, "Ada's upload failed")
    await error(resources, bob.id, "Bob's upload failed")
    await error(resources, ada.id, "Ada's second upload failed")
    start_worker()
    await mails(smtp.inbox, 2)
    (to_ada,) = smtp.inbox.to("ada@example.org")
    (to_bob,) = smtp.inbox.to("bob@example.org")
    assert listed(to_ada) == ["Ada's upload failed", "Ada's second upload failed"]
    assert listed(to_bob) == ["Bob's upload failed"]
    assert [e.rcpt_tos for e in smtp.inbox.envelopes] in (
        [["ada@example.org"], ["bob@example.org"]],
        [["bob@example.org"], ["ada@example.org"]],
    )


async def test_a_server_that_is_down_gets_the_mail_once_it_is_back(
    resources: Resources, smtp: SmtpServer, start_worker: Any
) -> None:
    user = await create_user(resources.db, "ada@example.org")
    smtp.stop()
    await error(resources, user.id, "Upload failed")
    start_worker()

    async def retried() -> bool:
        timeline = await monitoring.get_job_timeline(resources, f"email-digest:{user.id}:0")
        return any(e.event == "retry" for e in timeline)

    await eventually(retried, what="the digest job to retry")
    assert smtp.inbox.messages == [] and await pending_count(resources) == 1
    smtp.start()
    (mail,) = await mails(smtp.inbox, 1)
    assert listed(mail) == ["Upload failed"]
    await eventually(lambda: _no_pending(resources), what="the notification marked mailed")


async def _at_least(found: Awaitable[set[bytes]], count: int) -> bool:
    return len(await found) >= count


async def _no_pending(resources: Resources) -> bool:
    return await pending_count(resources) == 0


async def test_a_refused_recipient_is_logged_and_not_retried(
    resources: Resources, smtp: SmtpServer, start_worker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    user = await create_user(resources.db, "gone@example.org")
    smtp.inbox.refused.add("gone@example.org")
    await error(resources, user.id, "Upload failed")
    start_worker()
    handle = JobHandle(f"email-digest:{user.id}:0", "send_email_digest", "default", resources)
    with caplog.at_level(logging.WARNING, "voicepipe.services.notifications.email_channel"):
        result = await handle.result(timeout_s=15)
    assert result["sent"] == 0 and result["refused"] == 1 and "550" in result["error"]
    assert any("refused for good" in r.getMessage() for r in caplog.records)
    assert smtp.inbox.refusals == ["gone@example.org"] and smtp.inbox.messages == []
    row = await resources.db.fetchrow("SELECT emailed_at, email_error FROM notifications")
    assert row["emailed_at"] is not None and "550" in row["email_error"]
    assert await pending_count(resources) == 0
    kinds = [e["event"] for e in await job_events(resources, handle.job_id)]
    assert kinds == ["queued", "started", "success"]


async def test_the_sweeper_queues_a_digest_whose_job_was_lost(
    resources: Resources, smtp: SmtpServer, start_worker: Any
) -> None:
    lost = await create_user(resources.db, "lost@example.org")
    fresh = await create_user(resources.db, "fresh@example.org")
    for user in (lost, fresh):  # stored as a send would, but its digest job never queued
        await notifications_db.insert(
            resources.db, {user.id: ["database", "email"]}, f"For {user.email}", "m", "error",
            "user", None, {}, None,
        )  # fmt: skip
    await resources.db.execute(
        "UPDATE notifications SET created_at = created_at - make_interval(secs => $1) "
        "WHERE recipient_id = $2",
        WINDOW_S + SWEEP_MARGIN_S + 5, lost.id,
    )  # fmt: skip
    start_worker()
    sweep = await get_task("sweep_email_digests").enqueue(resources)
    assert await sweep.result(timeout_s=15) == {"queued": 1}
    (mail,) = await mails(smtp.inbox, 1)
    assert mail["To"] == "lost@example.org" and listed(mail) == ["For lost@example.org"]
    again = await get_task("sweep_email_digests").enqueue(resources)
    assert await again.result(timeout_s=15) == {"queued": 0}  # the fresh one is not late yet

    async def only_the_fresh_one_pending() -> bool:  # the digest job notes the mail after sending
        return await pending_count(resources) == 1

    await eventually(only_the_fresh_one_pending, what="the lost notification marked emailed")


async def test_sending_while_a_digest_is_being_sent_neither_waits_nor_loses_mail(
    resources: Resources, smtp: SmtpServer, start_worker: Any
) -> None:
    user = await create_user(resources.db, "ada@example.org")
    await error(resources, user.id, "Upload 1 failed")  # plans email-digest:<id>:0
    async with resources.db.acquire() as conn, conn.transaction():
        # as the digest job does while the SMTP server takes its mail
        assert await digests_db.lock(conn, user.id, WINDOW_S) is not None
        await asyncio.wait_for(error(resources, user.id, "Upload 2 failed"), 5)
    after = f"email-digest:{user.id}:0:after"
    assert await resources.redis.exists(keys.job(after))
    start_worker()
    (mail,) = await mails(smtp.inbox, 1)
    assert listed(mail) == ["Upload 1 failed", "Upload 2 failed"]
    result = await JobHandle(after, "send_email_digest", "default", resources).result(15)
    first = await JobHandle(f"email-digest:{user.id}:0", "send_email_digest", "default",
                            resources).result(15)  # fmt: skip
    assert sorted([result["sent"], first["sent"]]) == [0, 2]


async def test_a_worker_killed_mid_send_leaves_the_mail_to_the_next_try(
    resources: Resources, settings: Settings, smtp: SmtpServer, tmp_path: Path
) -> None:
    smtp.inbox.stall_first = True  # the first send hangs in DATA: the worker is killed there
    user = await create_user(resources.db, "ada@example.org")
    env = {"VOICEPIPE_SMTP_URL": smtp.url, "VOICEPIPE_EMAIL_DIGEST_S": str(WINDOW_S)}
    with worker_processes(settings, tmp_path, 2, **env):
        await eventually(lambda: n_live(resources, 2), timeout_s=30, what="two workers to beat")
        await error(resources, user.id, "Upload failed")
        await eventually(lambda: _true(smtp.inbox.stalled), what="the first send to hang")
        (entry,) = await running_entries(resources.redis, ["default"])
        os.kill(await worker_pid(resources, entry.worker), signal.SIGKILL)
        (mail,) = await mails(smtp.inbox, 1)
    assert listed(mail) == ["Upload failed"]
    # the copy a receiver might get from a send cut short carries the same Message-ID
    assert mail["Message-ID"] == smtp.inbox.stalled[0]
    events = await job_events(resources, entry.job_id)
    assert [(e["event"], e["try"]) for e in events][-3:] == [
        ("retry", 1), ("started", 2), ("success", 2),
    ]  # fmt: skip
    assert await pending_count(resources) == 0


async def _true(value: object) -> bool:
    return bool(value)
