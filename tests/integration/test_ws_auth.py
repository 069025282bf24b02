"""The feed's handshake: a bearer token, the session cookie from the site's own pages, or a first
auth message in time; everything else is closed with a code and a reason."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.ws import app_client, closed_with, connect, receive
from voicepipe.resources import Resources
from voicepipe.services import sessions
from voicepipe.settings import Settings
from voicepipe.web.ws.hub import FeedOptions


def _origin(client: TestClient[Any, Any]) -> str:
    return f"http://{client.host}:{client.port}"


async def test_a_bearer_token_on_the_handshake_signs_in(api: Api) -> None:
    ws = await connect(api.client, api.user)
    welcome = await receive(ws)
    assert welcome["type"] == "welcome" and welcome["user_id"] == api.user_id
    assert welcome["role"] == "user" and welcome["topics"] == ["job", "notification"]
    await ws.close()


async def test_an_auth_message_signs_in(api: Api) -> None:
    ws = await connect(api.client)
    await ws.send_json({"type": "auth", "token": api.admin})
    welcome = await receive(ws)
    assert welcome["type"] == "welcome" and welcome["role"] == "admin"
    assert welcome["topics"] == ["job", "notification", "worker"]
    await ws.close()


async def test_bad_tokens_are_refused(api: Api) -> None:
    ws = await connect(api.client, "vp_not-a-token")
    assert await closed_with(ws) == (4401, "invalid token")
    ws = await connect(api.client)
    await ws.send_json({"type": "auth", "token": "vp_not-a-token"})
    assert await closed_with(ws) == (4401, "invalid token")
    ws = await connect(api.client)
    await ws.send_json({"type": "subscribe", "topics": ["job"]})  # not signed in yet
    assert await closed_with(ws) == (4401, "authentication required")


async def test_no_auth_in_time_is_refused(settings: Settings, resources: Resources) -> None:
    async with app_client(settings, FeedOptions(auth_timeout_s=0.2)) as client:
        ws = await connect(client)
        assert await closed_with(ws) == (4401, "authentication required")


async def test_the_session_cookie_counts_from_the_sites_own_origin_only(
    api: Api, resources: Resources
) -> None:
    token = await sessions.create(resources, api.user_id)
    cookie = f"{sessions.SESSION_COOKIE}={token}"
    ws = await connect(api.client, Cookie=cookie, Origin=_origin(api.client))
    welcome = await receive(ws)
    assert welcome["type"] == "welcome" and welcome["user_id"] == api.user_id
    await ws.close()

    ws = await connect(api.client, Cookie=cookie, Origin="https://evil.example")
    assert await closed_with(ws) == (
        4403, "the session cookie is accepted from this site's own pages only"
    )  # fmt: skip
    ws = await connect(api.client, Cookie=cookie)  # no Origin: not a browser page of ours
    assert (await closed_with(ws))[0] == 4403

    await sessions.end(resources, token)
    assert await sessions.user_for(resources, token) is None
    ws = await connect(api.client, Cookie=cookie, Origin=_origin(api.client))
    assert await closed_with(ws) == (4401, "session expired or invalid")


async def test_a_bearer_token_wins_over_a_foreign_cookie(api: Api, resources: Resources) -> None:
    token = await sessions.create(resources, api.user_id)
    ws = await connect(
        api.client,
        api.other,
        Cookie=f"{sessions.SESSION_COOKIE}={token}",
        Origin="https://evil.example",
    )
    welcome = await receive(ws)
    assert welcome["user_id"] == api.other_id  # the token's user, not the cookie's
    await ws.close()


async def test_the_public_url_is_an_own_origin(
    settings: Settings, resources: Resources, api: Api
) -> None:
    public = settings.model_copy(update={"public_url": "https://voicepipe.example/"})
    token = await sessions.create(resources, api.user_id)
    async with app_client(public) as client:
        ws = await connect(
            client, Cookie=f"{sessions.SESSION_COOKIE}={token}", Origin="https://voicepipe.example"
        )
        assert (await receive(ws))["user_id"] == api.user_id
        await ws.close()
