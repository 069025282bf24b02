"""Every page an admin can reach, over a little of everything (jobs run by a real worker, a
failure, a deferred job, a notification, a webhook endpoint): each answers 200 with its heading,
shows no console error or failed request, fits a phone's width, and is saved as a screenshot at
1280×800. (Each page's own tests check what it shows; a recording's page is in test_recordings.)"""

from __future__ import annotations

from playwright.async_api import expect

import tests.support.jobs  # noqa: F401  (registers the test tasks)
from tests.support.browser import PHONE, Browsing, Site, assert_no_sideways_scroll
from tests.support.engine import fail_jobs
from voicepipe.db import webhooks as webhooks_db
from voicepipe.services.notifications import send_notification
from voicepipe.tasks.ping import ping
from voicepipe.web.pages.render import NAV
from voicepipe.webhooks.signing import new_secret

DETAIL_PAGES = ("/notifications/system", "/notifications/webhooks")


async def test_every_page_renders_cleanly_at_desktop_and_phone_width(
    as_admin: Browsing, site: Site
) -> None:
    resources = site.resources
    (failed,) = await fail_jobs(resources, 1)
    await ping.enqueue(resources, countdown_s=600, payload="later")
    await send_notification(resources, "Disk almost full", "92 % used on /srv", "warning",
                            channels=["database"], recipient_id=site.admin.id)  # fmt: skip
    # stored as the API would store it (its address is never called here)
    endpoint = await webhooks_db.create_endpoint(
        resources.db,
        site.admin.id,
        "https://hooks.example.org/voicepipe",
        new_secret(),
        ["notification.*"],
    )

    paths = [link.path for link in NAV] + [
        f"/jobs/{failed}", *DETAIL_PAGES, f"/notifications/webhooks/{endpoint.id}",
    ]  # fmt: skip
    page = await as_admin.new_page()
    for path in paths:
        response = await page.goto(path)
        assert response is not None and response.status == 200, path
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        name = path.strip("/").replace("/", "-") or "overview"
        await as_admin.shot(page, name)
    await page.set_viewport_size(PHONE)
    for path in paths:
        await page.goto(path)
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await assert_no_sideways_scroll(page)
