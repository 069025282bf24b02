"""The pages' guard against real servers: CSRF token and same-origin checks on state-changing
page requests, sign-in and admin requirements, safety headers, and HTML errors on pages while the
API keeps answering JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from voicepipe.resources import Resources
from voicepipe.services import sessions
from voicepipe.services.accounts import create_user, set_password
from voicepipe.settings import Settings
from voicepipe.web.app import init_app
from voicepipe.web.pages.security import BAD_TOKEN, CONTENT_SECURITY_POLICY, FOREIGN
from voicepipe.web.pages.session import (
    CSRF_HEADER,
    SESSION_COOKIE,
    csrf_token,
    require_admin,
    require_user,
)

Client = TestClient[Any, Any]
PASSWORD = "a long password"

# A tiny page of the test's own, so the guard is tested apart from the real pages.
TEST_ROUTES = web.RouteTableDef()


@TEST_ROUTES.get("/test/form")
async def form_page(request: web.Request) -> web.Response:
    await require_user(request)
    return web.Response(text=csrf_token(request), content_type="text/html")


@TEST_ROUTES.post("/test/action")
async def action(request: web.Request) -> web.Response:
    user = await require_user(request)
    return web.Response(text=f"done for {user.email}", content_type="text/html")


@TEST_ROUTES.get("/test/admin")
async def admin_page(request: web.Request) -> web.Response:
    user = await require_admin(request)
    return web.Response(text=f"admin page for {user.email}", content_type="text/html")


@TEST_ROUTES.get("/test/crash")
async def crash(request: web.Request) -> web.Response:
    raise RuntimeError("a bug in a page handler")


@pytest.fixture
async def client(settings: Settings, resources: Resources) -> AsyncIterator[Client]:
    for email, admin in (("admin@example.org", True), ("user@example.org", False)):
        await create_user(resources.db, email, admin=admin)
        await set_password(resources.db, email, PASSWORD)
    app = init_app(settings)
    app.router.add_routes(TEST_ROUTES)
    started: Client = TestClient(TestServer(app))
    await started.start_server()
    yield started
    await started.close()


def own_origin(client: Client) -> dict[str, str]:
    return {"Origin": str(client.make_url("/").origin())}


async def sign_in(client: Client, email: str) -> str:
    """Sign `email` in (the client's cookie jar keeps the session); returns its CSRF token."""
    response = await client.post(
        "/login",
        data={"email": email, "password": PASSWORD},
        headers=own_origin(client),
        allow_redirects=False,
    )
    assert response.status == 303
    form = await client.get("/test/form")
    assert form.status == 200
    return await form.text()


async def test_state_changes_need_the_sessions_token(client: Client) -> None:
    token = await sign_in(client, "user@example.org")
    assert len(token) == 64
    for form in ({}, {"csrf_token": "0" * 64}, {"csrf_token": ""}):
        refused = await client.post("/test/action", data=form, headers=own_origin(client))
        assert refused.status == 403 and refused.content_type == "text/html"
        assert BAD_TOKEN in await refused.text()
    done = await client.post("/test/action", data={"csrf_token": token}, headers=own_origin(client))
    assert done.status == 200 and await done.text() == "done for user@example.org"
    by_header = await client.post(
        "/test/action", headers={CSRF_HEADER: token, **own_origin(client)}
    )
    assert by_header.status == 200


async def test_a_token_from_another_session_is_refused(client: Client) -> None:
    other_token = await sign_in(client, "admin@example.org")
    client.session.cookie_jar.clear()
    await sign_in(client, "user@example.org")
    refused = await client.post(
        "/test/action", data={"csrf_token": other_token}, headers=own_origin(client)
    )
    assert refused.status == 403


async def test_state_changes_must_come_from_this_site(client: Client) -> None:
    token = await sign_in(client, "user@example.org")
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", **own_origin(client)},
    ):
        refused = await client.post("/test/action", data={"csrf_token": token}, headers=headers)
        assert refused.status == 403, headers
        assert FOREIGN in await refused.text()
    same = {"Sec-Fetch-Site": "same-origin", **own_origin(client)}
    assert (
        await client.post("/test/action", data={"csrf_token": token}, headers=same)
    ).status == 200
    # neither header: not a browser, so not a forged cross-site request; the token decides
    assert (await client.post("/test/action", data={"csrf_token": token})).status == 200
    assert (await client.post("/test/action", data={})).status == 403


async def test_sign_in_from_a_foreign_page_is_refused(client: Client) -> None:
    refused = await client.post(
        "/login",
        data={"email": "user@example.org", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert refused.status == 403 and SESSION_COOKIE not in refused.cookies


async def test_logout_needs_the_token(client: Client, resources: Resources) -> None:
    token = await sign_in(client, "user@example.org")
    session = next(c.value for c in client.session.cookie_jar if c.key == SESSION_COOKIE)
    refused = await client.post("/logout", headers=own_origin(client), allow_redirects=False)
    assert refused.status == 403
    assert await sessions.user_for(resources, session) is not None  # still signed in
    foreign = await client.post(
        "/logout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status == 403 and await sessions.user_for(resources, session) is not None
    done = await client.post(
        "/logout", data={"csrf_token": token}, headers=own_origin(client), allow_redirects=False
    )
    assert done.status == 303 and await sessions.user_for(resources, session) is None


async def test_pages_need_a_session_and_admin_pages_an_admin(client: Client) -> None:
    anonymous = await client.get("/test/form?x=1", allow_redirects=False)
    assert anonymous.status == 303
    back = URL(anonymous.headers["Location"])
    assert back.path == "/login" and back.query["next"] == "/test/form?x=1"
    await sign_in(client, "user@example.org")
    refused = await client.get("/test/admin")
    assert refused.status == 403 and refused.content_type == "text/html"
    assert "This page is for admins." in await refused.text()
    client.session.cookie_jar.clear()
    await sign_in(client, "admin@example.org")
    allowed = await client.get("/test/admin")
    assert allowed.status == 200 and "admin@example.org" in await allowed.text()


async def test_pages_carry_the_safety_headers(client: Client) -> None:
    for path, status in (("/login", 200), ("/no-such-page", 404)):
        response = await client.get(path)
        assert response.status == status
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
        assert "script-src 'self'" in CONTENT_SECURITY_POLICY
        assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store"
    await sign_in(client, "user@example.org")
    signed_in = await client.get("/test/form")
    assert signed_in.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" not in (await client.get("/health")).headers


async def test_errors_are_html_on_pages_and_json_on_the_api(
    client: Client, resources: Resources
) -> None:
    page = await client.get("/no-such-page")
    assert page.status == 404 and page.content_type == "text/html"
    assert "There is no page at this address." in await page.text()
    crashed = await client.get("/test/crash")
    assert crashed.status == 500 and crashed.content_type == "text/html"
    assert "a bug in a page handler" not in await crashed.text()
    wrong_method = await client.put("/login", headers=own_origin(client))
    assert wrong_method.status == 405 and wrong_method.content_type == "text/html"
    assert "GET" in wrong_method.headers["Allow"]
    api = await client.get("/api/no-such-thing")
    assert api.status == 404 and (await api.json())["error"]["status"] == 404
    unauthenticated = await client.get("/api/jobs")
    assert unauthenticated.status == 401 and "error" in await unauthenticated.json()
    # the page guard leaves the API alone: a bearer token from any origin, no CSRF token
    user = await create_user(resources.db, "api@example.org")
    api_write = await client.post(
        "/api/jobs/notifications/read-all",
        headers={"Authorization": f"Bearer {user.token}", "Origin": "https://elsewhere.example"},
    )
    assert api_write.status == 200 and api_write.content_type == "application/json"
