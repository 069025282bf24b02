"""The Notifications pages over real notifications: the inbox shows only the reader's own, marks
unread ones in words, and marks one or all read (with the CSRF token, no confirmation); admins
get the system notifications and the alerts; the webhook pages show a real receiver's delivery
log, redeliver queues a new attempt, and another user's endpoint is a 404 page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

import tests.support.jobs  # noqa: F401  (registers the test tasks)
from tests.integration.test_pages_failed import fail_jobs
from tests.support.engine import RunningWorker
from tests.support.pages import (  # noqa: F401  (the fixtures)
    Signed,
    admin_fixture,
    site_fixture,
    user_fixture,
)
from tests.support.receivers import (
    Receiver,
    receiver_fixture,  # noqa: F401  (the fixture)
)
from tests.support.waiting import eventually
from voicepipe.db.users import user_by_email
from voicepipe.resources import Resources, open_resources
from voicepipe.services.notifications import list_notifications, send_notification
from voicepipe.services.notifications.alerts import evaluate
from voicepipe.services.notifications.webhook_endpoints import create_endpoint, list_deliveries
from voicepipe.settings import Settings


@pytest.fixture
async def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_private": True})


def titles(html: str) -> list[str]:
    return re.findall(r'<strong class="notification-title">([^<]*)</strong>', html)


async def test_the_inbox_shows_only_the_readers_own_and_marks_them_read(
    user: Signed, admin: Signed, resources: Resources
) -> None:
    user_id, admin_id = user.user_id, admin.user_id
    for title in ("First", "Second", "Third"):
        await send_notification(resources, title, f"{title} message", recipient_id=user_id)
    await send_notification(resources, "Job done", "it ran", "success", recipient_id=user_id,
                            job_id="abc123")  # fmt: skip
    (theirs,) = await send_notification(resources, "Not yours", "m", recipient_id=admin_id)
    await send_notification(resources, "For admins", "m", recipient_type="admin")

    status, html = await user.get("/notifications")
    assert status == 200
    assert titles(html) == ["Job done", "Third", "Second", "First"]  # newest first, theirs only
    assert html.count('<span class="unread-mark">Unread</span>') == 4 and "4 unread" in html
    assert 'href="/jobs/abc123"' in html and 'data-live="notification"' in html
    assert "System and alerts" not in html  # the admins' tab is not offered
    assert "style=" not in html and "<script>" not in html

    page = await list_notifications(resources, user_id)
    second = next(n for n in page.items if n.title == "Second")
    status, after = await user.post(f"/notifications/{second.id}/read", confirmed=False)
    assert status == 303 and "Marked “Second” read." in after
    assert after.count("Unread</span>") == 3 and "3 unread" in after
    assert re.search(rf'id="notification-{second.id}"[^>]*>', after)
    assert f'action="/notifications/{second.id}/read"' not in after  # no button: read already

    status, refused = await user.post(f"/notifications/{theirs.id}/read", confirmed=False)
    assert status == 303 and f"no notification with id {theirs.id}" in refused
    assert (await list_notifications(resources, admin_id, unread_only=True)).items  # untouched
    assert (await user.post("/notifications/read-all", csrf=False, confirmed=False))[0] == 403
    assert len((await list_notifications(resources, user_id, unread_only=True)).items) == 3

    status, all_read = await user.post(
        "/notifications/read-all", [("back", "/notifications")], confirmed=False
    )
    assert status == 303 and "Marked 3 notifications read." in all_read
    assert "Unread</span>" not in all_read and "all read" in all_read
    assert "Mark all read" not in all_read
    assert (await list_notifications(resources, user_id, unread_only=True)).items == []


async def test_admins_see_the_system_notifications_and_the_alerts(
    admin: Signed, settings: Settings, resources: Resources
) -> None:
    await fail_jobs(resources, broken=1)
    strict = settings.model_copy(update={"alert_failure_min_jobs": 1})
    async with open_resources(strict) as evaluator:
        notices = await evaluate(evaluator, datetime.now(UTC))
    assert notices  # the failure-rate alert fired and was told to the admins
    await send_notification(resources, "Personal", "only mine", recipient_id=admin.user_id)

    status, html = await admin.get("/notifications/system")
    assert status == 200
    assert "failure rate: t_broken" in html and "firing" in html
    system_titles = titles(html)
    assert system_titles and "Personal" not in system_titles  # what was sent to the admins only
    assert 'aria-current="true">System and alerts' in html

    _, inbox = await admin.get("/notifications")
    assert "Personal" in titles(inbox) and set(system_titles) <= set(titles(inbox))
    assert 'href="/notifications/system"' in inbox


async def test_the_webhook_pages_show_the_delivery_log_and_redeliver(
    user: Signed, admin: Signed, resources: Resources, receiver: Receiver
) -> None:
    owner = await user_by_email(resources.db, "user@example.org")
    assert owner is not None
    endpoint = await create_endpoint(resources, owner, receiver.url, None)
    receiver.secret = endpoint.secret
    await send_notification(resources, "Hooked", "m", channels=["webhook"], recipient_id=owner.id)
    worker = RunningWorker(resources, ["default"])
    try:

        async def delivered() -> bool:
            page = await list_deliveries(resources, owner.id, endpoint.id, 10, None)
            return bool(page.items) and page.items[0].status == "delivered"

        await eventually(delivered, what="the delivery")
        status, listing = await user.get("/notifications/webhooks")
        assert status == 200
        assert receiver.url in listing and "notification.*" in listing and "enabled" in listing
        assert f'href="/notifications/webhooks/{endpoint.id}"' in listing

        hook = f"/notifications/webhooks/{endpoint.id}"
        status, log = await user.get(hook)
        assert status == 200
        (delivery,) = (await list_deliveries(resources, owner.id, endpoint.id, 10, None)).items
        assert "notification.info" in log and "delivered" in log and delivery.msg_id in log
        assert re.search(r'data-label="Status">200<', log)
        assert log.count('data-label="Started"') == 1

        redeliver = f"{hook}/deliveries/{delivery.id}/redeliver"
        status, asked = await user.post(redeliver, confirmed=False)
        assert status == 200 and f"Send delivery {delivery.id} again?" in asked
        assert len(receiver.requests) == 1  # asking sent nothing
        status, done = await user.post(redeliver)
        assert status == 303 and f"Delivery {delivery.id} is queued again" in done

        async def attempted_twice() -> bool:
            page = await list_deliveries(resources, owner.id, endpoint.id, 10, None)
            return (
                len(page.items[0].attempts) == 2 and page.items[0].attempts[1].outcome is not None
            )

        await eventually(attempted_twice, what="the redelivery")
        _, again = await user.get(hook)
        assert again.count('data-label="Started"') == 2 and "1 redelivered" in again
        assert [r.msg_id for r in receiver.requests] == [delivery.msg_id] * 2
    finally:
        await worker.close()

    # someone else's endpoint, admin or not, is not found
    assert (await admin.get(hook))[0] == 404
    assert (await admin.post(redeliver))[0] == 404
    assert (await admin.get("/notifications/webhooks/99999"))[0] == 404
    assert (await admin.get("/notifications/webhooks/nope"))[0] == 404
    _, admins_list = await admin.get("/notifications/webhooks")
    assert receiver.url not in admins_list and "You have no webhook endpoint." in admins_list
    assert len(receiver.requests) == 2
