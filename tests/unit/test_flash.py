"""The message an action leaves for the next page: set with the redirect, read once, never a way
to send the reader elsewhere or to show anything but text."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from voicepipe.web.pages import actions, flash


def request_with(cookie: str | None) -> web.Request:
    headers = {"Cookie": f"{flash.FLASH_COOKIE}={cookie}"} if cookie is not None else {}
    return make_mocked_request("GET", "/jobs", headers=headers)


def test_a_redirect_leaves_a_message_the_next_page_reads_once() -> None:
    response = actions.redirect("/jobs/abc", "success", "Job abc cancelled.")
    assert response.status == 303 and response.headers["Location"] == "/jobs/abc"
    cookie = response.cookies[flash.FLASH_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == flash.FLASH_TTL_S
    request = request_with(cookie.value)
    assert flash.taken(request) == [("success", "Job abc cancelled.")]
    page = web.Response()
    flash.clear(request, page)
    assert page.cookies[flash.FLASH_COOKIE]["max-age"] == "0"  # shown once


def test_a_cookie_that_is_not_ours_shows_nothing() -> None:
    for value in ("", "not base64!", "W10=", "WyJzaG91dCIsICJoaSJd"):  # [], ["shout", "hi"]
        assert flash.taken(request_with(value)) == []
    page = web.Response()
    flash.clear(request_with(None), page)
    assert flash.FLASH_COOKIE not in page.cookies  # nothing to delete


def test_an_action_never_redirects_off_the_site() -> None:
    for away in ("https://evil.example/", "//evil.example/x", "evil", "javascript:alert(1)"):
        assert actions.redirect(away, "info", "x").headers["Location"] == "/"
    assert actions.local("/failed?task=ping") == "/failed?task=ping"
