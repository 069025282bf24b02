"""Signing in to the pages against real servers: the bootstrap admin, the cookie, wrong
credentials, the per-account and per-address limits, legacy hashes, logout, set-password."""

from __future__ import annotations

import hashlib
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.support.processes import voicepipe_env
from voicepipe.resources import Resources
from voicepipe.services import sessions
from voicepipe.services.accounts import bootstrap_admin, create_user, set_password
from voicepipe.settings import Settings
from voicepipe.web.app import init_app
from voicepipe.web.pages.login import WRONG
from voicepipe.web.pages.session import SESSION_COOKIE, token_for

Client = TestClient[Any, Any]
Start = Callable[..., Awaitable[Client]]


@pytest.fixture
async def start(settings: Settings) -> AsyncIterator[Start]:
    """Start the app with some settings changed; every client is closed after the test."""
    clients: list[Client] = []

    async def started(**changes: Any) -> Client:
        client: Client = TestClient(TestServer(init_app(settings.model_copy(update=changes))))
        await client.start_server()
        clients.append(client)
        return client

    yield started
    for client in clients:
        await client.close()


def origin_of(client: Client) -> str:
    return str(client.make_url("/").origin())


async def post_login(
    client: Client, email: str, password: str, next_path: str | None = None
) -> aiohttp.ClientResponse:
    form = {"email": email, "password": password, **({"next": next_path} if next_path else {})}
    headers = {"Origin": origin_of(client)}
    return await client.post("/login", data=form, headers=headers, allow_redirects=False)


async def user_with_password(resources: Resources, email: str, password: str) -> int:
    new = await create_user(resources.db, email)
    await set_password(resources.db, email, password)
    return new.id


async def test_the_bootstrap_admin_signs_in_at_once(
    start: Start, resources: Resources, settings: Settings
) -> None:
    admin = await bootstrap_admin(resources.db, settings.admin_email)
    assert admin is not None and admin.password is not None
    client = await start()
    response = await post_login(client, admin.email, admin.password)
    assert response.status == 303 and response.headers["Location"] == "/"
    (cookie_header,) = response.headers.getall("Set-Cookie")
    attributes = {part.strip().split("=")[0].lower() for part in cookie_header.split(";")}
    assert {"httponly", "max-age", "path", "samesite"} <= attributes
    assert "secure" not in attributes  # the site is plain http here
    assert f"Max-Age={sessions.SESSION_TTL_S}" in cookie_header and "Path=/" in cookie_header
    assert "SameSite=Lax" in cookie_header
    token = response.cookies[SESSION_COOKIE].value
    found = await sessions.user_for(resources, token)
    assert found is not None and found.id == admin.id
    signed_in = await client.get("/login", allow_redirects=False)  # the cookie jar sends it
    assert signed_in.status == 303 and signed_in.headers["Location"] == "/"
    stored = await resources.db.fetchval("SELECT password_hash FROM users WHERE id = $1", admin.id)
    assert stored.startswith("$argon2id$")


async def test_the_cookie_is_secure_when_the_site_is_https(
    start: Start, resources: Resources
) -> None:
    await user_with_password(resources, "ada@example.org", "a long password")
    client = await start(public_url="https://voicepipe.example.org")
    response = await client.post(
        "/login",
        data={"email": "ada@example.org", "password": "a long password"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert "Secure" in response.headers["Set-Cookie"].split("; ")


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    start: Start, resources: Resources
) -> None:
    await user_with_password(resources, "ada@example.org", "a long password")
    client = await start()
    answers = []
    for email, password in [
        ("ada@example.org", "not her password"),
        ("nobody@example.org", "a long password"),
    ]:
        response = await post_login(client, email, password)
        assert response.status == 200 and SESSION_COOKIE not in response.cookies
        answers.append((await response.text()).replace(email, "EMAIL"))
    assert WRONG in answers[0]
    assert answers[0] == answers[1]
    assert (await post_login(client, "ADA@example.org", "a long password")).status == 303


async def test_a_disabled_user_cannot_sign_in(start: Start, resources: Resources) -> None:
    user_id = await user_with_password(resources, "ada@example.org", "a long password")
    client = await start()
    assert (await post_login(client, "ada@example.org", "a long password")).status == 303
    await resources.db.execute("UPDATE users SET disabled_at = now() WHERE id = $1", user_id)
    refused = await post_login(client, "ada@example.org", "a long password")
    assert refused.status == 200 and WRONG in await refused.text()


async def test_failures_are_limited_per_account_and_successes_do_not_count(
    start: Start, resources: Resources
) -> None:
    await user_with_password(resources, "ada@example.org", "ada's password")
    await user_with_password(resources, "bob@example.org", "bob's password")
    # a day-long window: its end (midnight UTC) will not fall in the middle of the test
    client = await start(
        login_failures_per_account=2, login_failures_per_ip=100, login_window_s=86_400
    )
    for _ in range(3):  # more successes than the limit allows failures
        assert (await post_login(client, "ada@example.org", "ada's password")).status == 303
    for _ in range(2):
        assert (await post_login(client, "ada@example.org", "wrong")).status == 200
    limited = await post_login(client, "ada@example.org", "ada's password")
    assert limited.status == 429 and limited.content_type == "text/html"
    assert 0 < int(limited.headers["Retry-After"]) <= 86_400
    assert re.search(r"try again in \d+ minutes?\.", await limited.text())
    assert (await post_login(client, "bob@example.org", "bob's password")).status == 303


async def test_failures_are_limited_per_client_address(start: Start, resources: Resources) -> None:
    await user_with_password(resources, "ada@example.org", "ada's password")
    client = await start(
        login_failures_per_account=100, login_failures_per_ip=3, login_window_s=86_400
    )
    for n in range(3):
        assert (await post_login(client, f"guess{n}@example.org", "wrong")).status == 200
    limited = await post_login(client, "ada@example.org", "ada's password")
    assert limited.status == 429 and "from your address" in await limited.text()


def legacy_scrypt_hash(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


async def test_a_legacy_scrypt_hash_signs_in_and_is_rehashed_to_argon2(
    start: Start, resources: Resources
) -> None:
    user = await create_user(resources.db, "old@example.org")
    await resources.db.execute(
        "UPDATE users SET password_hash = $2 WHERE id = $1", user.id, legacy_scrypt_hash("old pw!!")
    )
    client = await start()
    assert (await post_login(client, "old@example.org", "old pw!!")).status == 303
    stored = await resources.db.fetchval("SELECT password_hash FROM users WHERE id = $1", user.id)
    assert stored.startswith("$argon2id$")
    client.session.cookie_jar.clear()
    assert (await post_login(client, "old@example.org", "old pw!!")).status == 303
    assert (await post_login(client, "old@example.org", "old pw!?")).status == 200


async def test_next_is_followed_only_to_a_local_path(start: Start, resources: Resources) -> None:
    await user_with_password(resources, "ada@example.org", "a long password")
    client = await start()
    for next_path, expected in [
        ("https://evil.example", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("/jobs?status=failed", "/jobs?status=failed"),
    ]:
        client.session.cookie_jar.clear()
        response = await post_login(client, "ada@example.org", "a long password", next_path)
        assert response.status == 303 and response.headers["Location"] == expected
    page = await (await client.get("/login", params={"next": "https://evil.example"})).text()
    assert "evil.example" not in page


async def test_logout_ends_the_session(start: Start, resources: Resources) -> None:
    await user_with_password(resources, "ada@example.org", "a long password")
    client = await start()
    token = (
        (await post_login(client, "ada@example.org", "a long password"))
        .cookies[SESSION_COOKIE]
        .value
    )
    assert await sessions.user_for(resources, token) is not None
    response = await client.post(
        "/logout",
        data={"csrf_token": token_for(token)},
        headers={"Origin": origin_of(client)},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == "/login"
    assert response.cookies[SESSION_COOKIE].value == ""  # the browser is told to forget it
    assert await sessions.user_for(resources, token) is None
    again = await client.get("/login", cookies={SESSION_COOKIE: token}, allow_redirects=False)
    assert again.status == 200  # the old cookie signs no one in: the form is shown


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    assert settings.redis_url and settings.database_url
    return voicepipe_env(tmp_path, REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url)


def set_password_process(
    env: dict[str, str], email: str, stdin: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voicepipe", "user", "set-password", "--email", email],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_set_password_from_stdin_then_sign_in(
    start: Start, resources: Resources, env: dict[str, str]
) -> None:
    await create_user(resources.db, "ada@example.org")
    client = await start()
    assert (await post_login(client, "ada@example.org", "brand new secret")).status == 200
    done = set_password_process(env, "ada@example.org", "brand new secret\n")
    assert done.returncode == 0, done.stderr
    assert "password set for ada@example.org" in done.stdout
    assert (await post_login(client, "ada@example.org", "brand new secret")).status == 303


async def test_set_password_signs_the_user_out_everywhere(
    resources: Resources, env: dict[str, str]
) -> None:
    ada = await create_user(resources.db, "ada@example.org")
    other = await create_user(resources.db, "bob@example.org")
    laptop = await sessions.create(resources, ada.id)
    phone = await sessions.create(resources, ada.id)
    kept = await sessions.create(resources, other.id)
    assert await sessions.user_for(resources, laptop) is not None  # signed in before
    done = set_password_process(env, "ada@example.org", "brand new secret\n")
    assert done.returncode == 0, done.stderr
    assert "2 sessions signed out" in done.stdout
    assert await sessions.user_for(resources, laptop) is None
    assert await sessions.user_for(resources, phone) is None
    assert await sessions.user_for(resources, kept) is not None  # someone else's stays


async def test_set_password_refuses_short_passwords_and_unknown_emails(
    resources: Resources, env: dict[str, str]
) -> None:
    await create_user(resources.db, "ada@example.org")
    for email, stdin, expected in [
        ("ada@example.org", "short\n", "at least 8 characters"),
        ("ada@example.org", "", "at least 8 characters"),
        ("nobody@example.org", "long enough\n", "no user with email nobody@example.org"),
    ]:
        done = set_password_process(env, email, stdin)
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.strip().splitlines()  # one clear line
        assert line.startswith("voicepipe: error: ") and expected in line
    stored = await resources.db.fetchval("SELECT password_hash FROM users")
    assert stored is None
