"""Every route in the route table is walked: 401 without a token, 403 for a user on admin routes.

A new route is checked the moment it is added to ROUTES; an admin route that forgets its auth
level fails here. Also: 413, 429 with Retry-After, 503 with Redis or PostgreSQL down.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import numpy as np
import soundfile as sf
from aiohttp.test_utils import TestClient, TestServer

from tests.support.api import Api, api_fixture  # noqa: F401
from voicepipe.embedded.procs import free_port
from voicepipe.resources import Resources
from voicepipe.services.accounts import create_user
from voicepipe.settings import Settings
from voicepipe.web.api import Auth
from voicepipe.web.app import init_app
from voicepipe.web.routes import ROUTES

# A body that passes validation for each route that takes one, so only auth can refuse it.
VALID_BODIES: dict[str, Any] = {
    "/api/jobs": {"task": "ping"},
    "/api/jobs/action/{task_id}": {"action": "cancel"},
    "/api/jobs/queue/purge": {"queue": "maintenance"},
    "/api/notifications/preferences": {
        "channels": {
            level: ["redis", "database", "email", "webhook", "push"]
            for level in ("info", "success", "warning", "error", "critical")
        }
    },
    "/api/webhooks": {"url": "https://8.8.8.8/hook"},
    "/api/chunks/{chunk_id}/transcriptions": {
        "text": "hello"
    },  # a public address: the SSRF guard lets it by
    "/api/push/subscriptions": {
        "endpoint": "https://push.example.org/w/some-browser",
        "expirationTime": None,
        "keys": {
            "p256dh": "BJN9bbOURY1j1AoDpSy4LpzOIjPmKzClvIqNG2X-QvR1W2tVicOiQxx6FdWfe1RFsZNa7LykddbUzhq4sA546Bs",
            "auth": "fFnoR6mYjiCV7sTVprKbOQ",
        },
    },
}


# The only routes open to anyone, and to any user; every other route must be admin-only, so a
# new route is admin-only unless someone deliberately lists it here.
PUBLIC_ROUTES = {("GET", "/health"), ("GET", "/metrics"), ("GET", "/api/openapi.json")}
USER_ROUTES = {
    ("GET", "/api/jobs"), ("GET", "/api/jobs/info/{task_id}"), ("GET", "/api/jobs/failed"),
    ("GET", "/api/jobs/active"), ("GET", "/api/jobs/scheduled"), ("GET", "/api/jobs/statistics"),
    ("GET", "/api/jobs/notifications"), ("POST", "/api/jobs/notifications/{notification_id}/read"),
    ("POST", "/api/jobs/notifications/read-all"),
    ("GET", "/api/notifications/preferences"), ("PUT", "/api/notifications/preferences"),
    ("POST", "/api/webhooks"), ("GET", "/api/webhooks"), ("DELETE", "/api/webhooks/{webhook_id}"),
    ("GET", "/api/webhooks/{webhook_id}/deliveries"),
    ("POST", "/api/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"),
    ("GET", "/api/push/vapid-public-key"), ("POST", "/api/push/subscriptions"),
    ("DELETE", "/api/push/subscriptions/{subscription_id}"), ("GET", "/api/push/subscriptions"),
    ("POST", "/api/recordings"), ("GET", "/api/recordings"), ("POST", "/api/recordings/batch"),
    ("GET", "/api/recordings/{recording_id}"), ("DELETE", "/api/recordings/{recording_id}"),
    ("GET", "/api/recordings/{recording_id}/chunks"), ("GET", "/api/batches/{batch_id}"),
    ("GET", "/api/chunks/next"), ("GET", "/api/chunks/{chunk_id}"),
    ("GET", "/api/chunks/{chunk_id}/audio"), ("POST", "/api/chunks/{chunk_id}/transcriptions"),
}  # fmt: skip
UPLOADS = {route.path for route in ROUTES if route.upload}
_FILES = itertools.count()


def _url(path: str) -> str:
    return re.sub(r"{\w+}", "some-id", path)


def _wav() -> bytes:
    """A tiny WAV, different at every call (the same file twice would be a 409)."""
    out = io.BytesIO()
    sf.write(out, np.full(1600, 0.01 * (next(_FILES) + 1), np.float32), 16_000, format="WAV")
    return out.getvalue()


async def _call(api: Api, method: str, path: str, token: str | None) -> tuple[int, Any]:
    headers = api.auth(token)
    if path in UPLOADS:  # multipart with a file, as the upload routes take
        form = aiohttp.FormData()
        form.add_field("file", _wav(), filename="a.wav")
        response = await api.client.request(method, _url(path), headers=headers, data=form)
    else:
        body = VALID_BODIES.get(path, {})
        response = await api.client.request(method, _url(path), headers=headers, json=body)
    return (
        response.status,
        await response.json() if response.content_type == "application/json" else None,
    )


async def test_every_protected_route_refuses_callers_without_a_valid_token(api: Api) -> None:
    protected = [r for r in ROUTES if r.auth is not Auth.PUBLIC]
    assert len(protected) >= 14  # the walk covers the whole table, job control included
    for route in protected:
        for token in (None, "vp_not-a-real-token", "Basic abc"):
            status, body = await _call(api, route.method, route.path, token)
            assert status == 401, (route.method, route.path, token, status)
            assert body["error"]["status"] == 401


def test_only_listed_routes_are_open_to_users_or_the_public() -> None:
    for route in ROUTES:
        key = (route.method, route.path)
        expected = (
            Auth.PUBLIC if key in PUBLIC_ROUTES else Auth.USER if key in USER_ROUTES else Auth.ADMIN
        )
        assert route.auth is expected, key


async def test_every_admin_route_refuses_a_user(api: Api) -> None:
    admin_routes = [r for r in ROUTES if r.auth is Auth.ADMIN]
    assert {r.path for r in admin_routes} >= {
        "/api/jobs/workers",
        "/api/jobs/queues",
        "/api/jobs/queue/purge",
    }
    for route in admin_routes:
        status, body = await _call(api, route.method, route.path, api.user)
        assert status == 403, (route.method, route.path, status, body)
        status, _ = await _call(api, route.method, route.path, api.admin)
        assert status not in (401, 403), (route.method, route.path, status)


async def test_user_routes_take_any_user_and_public_routes_anyone(api: Api) -> None:
    for route in ROUTES:
        token = None if route.auth is Auth.PUBLIC else api.user
        if route.auth is Auth.ADMIN:
            continue
        status, _ = await _call(api, route.method, route.path, token)
        # the route's own success status, or 404 for the made-up id in its path
        assert status in (route.status, 404), (route.method, route.path, status)


async def test_a_revoked_token_stops_working(api: Api, resources: Resources) -> None:
    assert (await api.get("/api/jobs", api.user))[0] == 200
    await resources.db.execute("UPDATE api_tokens SET revoked_at = now()")
    status, body = await api.get("/api/jobs", api.user)
    assert status == 401 and "revoked" in body["error"]["message"]


async def test_a_body_over_the_limit_is_413(settings: Settings, resources: Resources) -> None:
    small = settings.model_copy(update={"api_max_body_bytes": 100})
    admin = await create_user(resources.db, "a@example.org", admin=True)
    async with TestClient(TestServer(init_app(small))) as client:
        big = {"task": "ping", "kwargs": {"payload": "x" * 200}}
        response = await client.post("/api/jobs", json=big, headers=Api.auth(admin.token))
        assert response.status == 413 and (await response.json())["error"]["status"] == 413

        async def chunked() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"x" * 50

        response = await client.post("/api/jobs", data=chunked(), headers=Api.auth(admin.token))
        assert response.status == 413  # no Content-Length: counted while read


async def test_rate_limit_is_429_with_retry_after_per_token(
    settings: Settings, resources: Resources
) -> None:
    limited = settings.model_copy(update={"rate_limit_read": 3, "rate_limit_window_s": 30})
    one = await create_user(resources.db, "one@example.org")
    two = await create_user(resources.db, "two@example.org")
    async with TestClient(TestServer(init_app(limited))) as client:
        statuses = [
            (await client.get("/api/jobs", headers=Api.auth(one.token))).status for _ in range(3)
        ]
        assert statuses == [200, 200, 200]
        response = await client.get("/api/jobs/active", headers=Api.auth(one.token))
        assert response.status == 429
        assert 1 <= int(response.headers["Retry-After"]) <= 30
        assert (await response.json())["error"]["status"] == 429
        assert (await client.get("/api/jobs", headers=Api.auth(two.token))).status == 200
        anonymous = [(await client.get("/api/jobs")).status for _ in range(4)]
        assert anonymous == [401, 401, 401, 429]  # counted per IP without a token
        guessed = [
            (await client.get("/api/jobs", headers=Api.auth(f"vp_guess{i}"))).status
            for i in range(2)
        ]
        assert guessed == [429, 429]  # made-up tokens do not get round the IP's limit
        assert (await client.get("/health")).status == 200  # not rate limited


async def test_redis_down_is_503_not_500(settings: Settings, resources: Resources) -> None:
    user = await create_user(resources.db, "u@example.org")
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with TestClient(TestServer(init_app(dead))) as client:
        for path in ("/api/jobs", "/api/jobs/active", "/metrics"):
            response = await client.get(path, headers=Api.auth(user.token))
            assert response.status == 503, path
            assert "unavailable" in (await response.json())["error"]["message"]


async def test_postgres_down_is_503_not_500(settings: Settings) -> None:
    dead = settings.model_copy(
        update={"database_url": f"postgresql://x:y@127.0.0.1:{free_port()}/nope"}
    )
    async with TestClient(TestServer(init_app(dead))) as client:
        response = await client.get("/api/jobs", headers=Api.auth("vp_whatever"))
        assert response.status == 503
        assert (await response.json())["error"]["status"] == 503
