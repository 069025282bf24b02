"""Signing in and out in a real browser: the form, the session cookie, a wrong password, a user
refused the admin pages, a form without the CSRF token refused; and the watch that fails a test
on a console error or an unexpected status does see them."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.support.browser import Browsing, Site, sign_in
from voicepipe.services.sessions import SESSION_COOKIE
from voicepipe.web.pages.login import WRONG
from voicepipe.web.pages.security import BAD_TOKEN

TO_LOGIN = re.compile(r"/login\?next=(/|%2F)$")  # yarl may unquote the "/"


async def test_the_admin_signs_in_with_the_form_and_signs_out(
    site: Site, browsing: Browsing
) -> None:
    page = await browsing.new_page()
    await page.goto("/")
    await expect(page).to_have_url(TO_LOGIN)  # sent to sign in, and back here afterwards
    await expect(page.get_by_label("Email")).to_be_focused()
    await browsing.shot(page, "login")

    await sign_in(page, site.admin)
    await expect(page).to_have_url(site.url + "/")
    await expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    await expect(page.locator(".account-email")).to_have_text(site.admin.email)
    await browsing.shot(page, "overview")
    (cookie,) = [c for c in await browsing.context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert SESSION_COOKIE not in await page.evaluate("document.cookie")  # no script can read it

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(site.url + "/login")
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert not [c for c in await browsing.context.cookies() if c["name"] == SESSION_COOKIE]
    await page.goto("/")
    await expect(page).to_have_url(TO_LOGIN)  # the session is over, not only the cookie gone
    await browsing.shot(page, "signed-out")
    assert browsing.watch.responses >= 6 and not browsing.watch.problems


async def test_a_wrong_password_is_told_on_the_form(site: Site, browsing: Browsing) -> None:
    page = await browsing.new_page()
    await page.goto("/login")
    await page.get_by_label("Email").fill(site.admin.email)
    await page.get_by_label("Password").fill(site.admin.password + "x")
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_role("button", name="Sign in").click()
    assert (await answered.value).status == 200

    await expect(page.get_by_role("alert")).to_have_text(WRONG)
    await expect(page.get_by_label("Email")).to_have_value(site.admin.email)  # kept for a retry
    await expect(page.get_by_label("Password")).to_have_value("")
    await browsing.shot(page, "wrong-password")
    assert not [c for c in await browsing.context.cookies() if c["name"] == SESSION_COOKIE]


async def test_a_user_who_is_not_an_admin_starts_at_their_jobs_and_is_refused_admin_pages(
    site: Site, browsing: Browsing
) -> None:
    page = await browsing.new_page()
    await sign_in(page, site.user)
    await expect(page).to_have_url(site.url + "/jobs")  # "/" is the admins' overview
    await expect(page.locator(".account-email")).to_have_text(site.user.email)  # signed in
    sections = page.get_by_role("navigation", name="Sections").get_by_role("link")
    await expect(sections).to_have_text(["Jobs", "Recordings", "Notifications"])
    for path in ("/queues", "/workers", "/scheduled", "/failed", "/notifications/system"):
        browsing.watch.expect(403, path)
        await page.goto(path)
        await expect(page.get_by_role("heading", level=1)).to_contain_text("Forbidden (403)")
        await expect(page.get_by_role("alert")).to_have_text("This page is for admins.")
    await browsing.shot(page, "refused")
    assert [status for status, _ in browsing.watch.seen] == [403] * 5


async def test_a_form_posted_without_the_csrf_token_is_refused(
    site: Site, as_admin: Browsing
) -> None:
    browsing = as_admin
    browsing.watch.expect(403, "/logout")
    page = await browsing.open("/")
    await expect(page.locator('form.signout input[name="csrf_token"]')).to_have_count(1)

    async with page.expect_response(lambda r: r.url.endswith("/logout")) as answered:
        await page.evaluate(
            """() => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = "/logout";
                document.body.append(form);
                form.submit();
            }"""
        )
    assert (await answered.value).status == 403
    await expect(page.get_by_role("alert")).to_have_text(BAD_TOKEN)
    await browsing.shot(page, "csrf-refused")
    status = await page.evaluate(
        """async () => {
            const response = await fetch("/logout", {method: "POST"});
            await response.text();  // read to the end: leaving it unread aborts it on navigating
            return response.status;
        }"""
    )
    assert status == 403  # fetch() without the X-CSRF-Token header
    assert browsing.watch.seen == [(403, "/logout"), (403, "/logout")]

    again = await page.goto("/")
    assert again is not None and again.status == 200  # still signed in
    await expect(page.locator(".account-email")).to_have_text(site.admin.email)


async def test_the_watch_sees_a_csp_violation_and_an_unexpected_status(
    as_admin: Browsing,
) -> None:
    page = await as_admin.open("/")
    assert as_admin.watch.responses >= 2 and not as_admin.watch.problems
    # an inline script: the page's CSP refuses it, and the refusal is a console error
    ran = await page.evaluate(
        """() => {
            window.ran = false;
            const script = document.createElement("script");
            script.textContent = "window.ran = true";
            document.body.append(script);
            return window.ran;
        }"""
    )
    assert ran is False
    await page.goto("/no-such-page")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Not Found (404)")
    await as_admin.shot(page, "not-found")

    problems = as_admin.watch.take()  # caused on purpose: the test does not fail for them
    assert any("Content Security Policy" in p for p in problems), problems
    assert any(p.startswith("HTTP 404: GET ") and p.endswith("/no-such-page") for p in problems)


async def test_every_page_links_its_icon(browsing: Browsing) -> None:
    page = await browsing.new_page()
    await page.goto("/login")
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert await page.locator('head link[rel~="icon"]').count() == 1  # loaded: no waiting
