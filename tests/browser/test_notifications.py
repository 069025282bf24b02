"""The Notifications pages in a real browser: a notification sent while the inbox is open appears
in it without a reload, marked unread, and "Mark read" / "Mark all read" work; admins' system tab
shows the alerts; the webhook pages show a real receiver's delivery log and redeliver; at a
phone's width nothing scrolls sideways."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.async_api import expect

from tests.support.browser import PHONE, Browsing, answer_next_dialog, assert_no_sideways_scroll
from tests.support.engine import RunningWorker, fail_jobs
from tests.support.receivers import Receiver, receiving
from tests.support.waiting import eventually
from voicepipe.db.users import user_by_email
from voicepipe.resources import Resources, open_resources
from voicepipe.services.notifications import list_notifications, send_notification
from voicepipe.services.notifications.alerts import evaluate
from voicepipe.services.notifications.webhook_endpoints import (
    CreatedEndpoint,
    create_endpoint,
    list_deliveries,
)
from voicepipe.settings import Settings


@pytest.fixture
async def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_private": True})


async def test_a_notification_arrives_in_the_open_inbox_and_is_marked_read(
    browsing: Browsing, resources: Resources
) -> None:
    user = browsing.site.user
    await browsing.sign_in_as(user)
    await send_notification(
        resources, "Recording ready", "42 chunks", "success", recipient_id=user.id
    )
    page = await browsing.open("/notifications")
    items = page.locator("#inbox li.notification")
    await expect(items).to_have_count(1)
    await expect(page.locator("#notifications-head")).to_contain_text("1 unread")

    await send_notification(
        resources, "Transcription disagreement", "Chunk 7 needs more transcriptions",
        "warning", recipient_id=user.id, job_id="abc123",
    )  # fmt: skip
    await expect(items).to_have_count(2)  # no reload: it came over the live feed
    newest = items.first
    await expect(newest).to_contain_text("Transcription disagreement")
    await expect(newest).to_contain_text("Unread")
    await expect(newest.get_by_role("link", name="job abc123")).to_have_attribute(
        "href", "/jobs/abc123"
    )
    await expect(page.locator("#notifications-head")).to_contain_text("2 unread")
    await browsing.shot(page, "notifications")

    await newest.get_by_role("button", name="Mark “Transcription disagreement” read").click()
    await expect(page.locator(".flash-success")).to_have_text(
        "Marked “Transcription disagreement” read."
    )
    await expect(items.first).not_to_contain_text("Unread")
    await expect(items.nth(1)).to_contain_text("Unread")
    await page.get_by_role("button", name="Mark all read").click()
    await expect(page.locator(".flash-success")).to_have_text("Marked 1 notification read.")
    await expect(page.locator(".unread-mark")).to_have_count(0)
    await expect(page.locator("#notifications-head")).to_contain_text("all read")
    assert (await list_notifications(resources, user.id, unread_only=True)).items == []
    await browsing.shot(page, "notifications-read")


async def test_admins_see_the_alerts_and_the_system_notifications(
    as_admin: Browsing, settings: Settings, resources: Resources
) -> None:
    await fail_jobs(resources, 1)
    strict = settings.model_copy(update={"alert_failure_min_jobs": 1})
    async with open_resources(strict) as evaluator:
        assert await evaluate(evaluator, datetime.now(UTC))
    page = await as_admin.open("/notifications")
    await page.get_by_role("link", name="System and alerts").click()
    await expect(page).to_have_url(f"{as_admin.site.url}/notifications/system")
    await expect(page.get_by_role("heading", name="System notifications", level=1)).to_be_visible()
    alert = page.locator("#alerts li.alert-firing")
    await expect(alert).to_contain_text("failure rate: t_broken")
    await expect(alert).to_contain_text("firing")
    await expect(page.locator("#inbox li.notification")).not_to_have_count(0)
    await as_admin.shot(page, "notifications-system")


async def _delivered_endpoint(
    resources: Resources, receiver: Receiver, email: str
) -> CreatedEndpoint:
    owner = await user_by_email(resources.db, email)
    assert owner is not None
    endpoint = await create_endpoint(resources, owner, receiver.url, None)
    receiver.secret = endpoint.secret
    await send_notification(resources, "Hooked", "m", channels=["webhook"], recipient_id=owner.id)
    return endpoint


async def test_the_webhook_pages_show_the_delivery_log_and_redeliver(
    browsing: Browsing, resources: Resources
) -> None:
    user = browsing.site.user
    await browsing.sign_in_as(user)
    worker = RunningWorker(resources, ["default"])
    try:
        async with receiving() as receiver:
            endpoint = await _delivered_endpoint(resources, receiver, user.email)

            async def attempts() -> int:
                page = await list_deliveries(resources, user.id, endpoint.id, 5, None)
                finished = [a for d in page.items for a in d.attempts if a.outcome]
                return len(finished)

            await eventually(attempts, what="the first delivery")
            page = await browsing.open("/notifications/webhooks")
            row = page.locator("table.endpoints tbody tr")
            await expect(row).to_have_count(1)
            await expect(row).to_contain_text(receiver.url)
            await expect(row).to_contain_text("enabled")
            await browsing.shot(page, "webhooks")

            await row.get_by_role("link", name="Delivery log").click()
            await expect(page).to_have_url(
                f"{browsing.site.url}/notifications/webhooks/{endpoint.id}"
            )
            delivery = page.locator("#deliveries li.delivery")
            await expect(delivery).to_have_count(1)
            await expect(delivery).to_contain_text("notification.info")
            await expect(delivery.locator(".delivery-status")).to_have_text("delivered")
            await expect(delivery.locator('table.attempts td[data-label="Status"]')).to_have_text(
                "200"
            )
            await browsing.shot(page, "webhook")

            asked = answer_next_dialog(page)
            await delivery.get_by_role("button", name="Redeliver").click()
            await expect(page.locator(".flash-success")).to_contain_text("is queued again")
            assert asked and asked[0].startswith("Send delivery")

            async def redelivered() -> bool:
                return await attempts() >= 2

            await eventually(redelivered, what="the redelivery")
            await page.reload()
            await expect(delivery.locator("table.attempts tbody tr")).to_have_count(2)
            await expect(delivery).to_contain_text("1 redelivered")
            assert len(receiver.requests) == 2
            await browsing.shot(page, "webhook-redelivered")

            await page.set_viewport_size(PHONE)
            await assert_no_sideways_scroll(page)
            await browsing.shot(page, "webhook-phone")
    finally:
        await worker.close()


async def test_another_users_endpoint_is_not_found(
    as_admin: Browsing, resources: Resources
) -> None:
    async with receiving() as receiver:
        endpoint = await _delivered_endpoint(resources, receiver, as_admin.site.user.email)
        as_admin.watch.expect(404, f"/notifications/webhooks/{endpoint.id}")
        page = await as_admin.new_page()
        response = await page.goto(f"/notifications/webhooks/{endpoint.id}")
        assert response is not None and response.status == 404
        await expect(page.locator("main")).to_contain_text(
            f"no webhook endpoint with id {endpoint.id}"
        )
        await page.goto("/notifications/webhooks")
        await expect(page.locator("table.endpoints")).to_contain_text(
            "You have no webhook endpoint."
        )


async def test_on_a_phone_the_notification_pages_do_not_scroll_sideways(
    as_admin: Browsing, resources: Resources
) -> None:
    admin = as_admin.site.admin
    long_word = "x" * 120
    await send_notification(resources, f"A long title {long_word}", f"message {long_word}",
                            "error", recipient_id=admin.id, job_id="f" * 32)  # fmt: skip
    page = await as_admin.new_page()
    await page.set_viewport_size(PHONE)
    for path, name in (("/notifications", "notifications-phone"),
                       ("/notifications/system", "notifications-system-phone"),
                       ("/notifications/webhooks", "webhooks-phone")):  # fmt: skip
        response = await page.goto(path)
        assert response is not None and response.status == 200
        await as_admin.shot(page, name)
        await assert_no_sideways_scroll(page)
