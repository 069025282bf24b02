"""The preferences API: each user reads and sets their own; the defaults until they do; a 422
naming the problem for an unknown level or channel, a missing level, or a muted `critical`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, api_fixture  # noqa: F401
from voicepipe.resources import Resources
from voicepipe.services.notifications import send_notification

PATH = "/api/notifications/preferences"
EVERY = ["redis", "database", "email", "webhook", "push"]
QUIET = ["redis", "database"]


async def put(api: Api, token: str, body: Any) -> tuple[int, Any]:
    response = await api.client.put(PATH, headers=api.auth(token), json=body)
    return response.status, await response.json()


def choose(**levels: list[str]) -> dict[str, Any]:
    channels = {level: QUIET for level in ("info", "success", "warning", "error")}
    return {"channels": {**channels, "critical": EVERY, **levels}}


async def test_a_new_user_gets_the_defaults(api: Api) -> None:
    status, body = await api.get(PATH, api.user)
    assert status == 200
    no_email = ["redis", "database", "webhook", "push"]
    assert body == {
        "channels": {"info": no_email, "success": no_email, "warning": no_email,
                     "error": EVERY, "critical": EVERY}
    }  # fmt: skip


async def test_saved_preferences_are_normalised_and_the_callers_own(api: Api) -> None:
    status, saved = await put(
        api, api.user, choose(info=["push", "redis", "push"], error=["email", "database"])
    )
    assert status == 200
    assert saved["channels"]["info"] == ["redis", "push"]  # once each, in the usual order
    assert saved["channels"]["error"] == ["database", "email"]
    assert (await api.get(PATH, api.user)) == (200, saved)
    _, others = await api.get(PATH, api.other)
    assert others["channels"]["info"] != saved["channels"]["info"]  # still the defaults
    status, again = await put(api, api.user, choose())
    assert status == 200 and again["channels"]["error"] == QUIET  # a second save replaces


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (choose(fatal=EVERY), "unknown level 'fatal'; levels are info, success, warning, error, critical"),
        (choose(info=["sms"]), "unknown channel 'sms' for level 'info'; channels are redis, database, email, webhook, push"),
        ({"channels": {"info": QUIET, "critical": EVERY}}, "preferences name no channels for level 'success'"),
        (choose(critical=QUIET), "critical notifications cannot be muted (channel 'email')"),
        (choose(critical=[]), "critical notifications cannot be muted (channel 'redis')"),
        ({}, "body.channels: Field required"),
        ({"channels": {"info": "email"}}, "body.channels.info: Input should be a valid array"),
    ],
)  # fmt: skip
async def test_bad_preferences_are_refused_and_nothing_is_saved(
    api: Api, body: Any, message: str
) -> None:
    _, before = await api.get(PATH, api.user)
    status, refused = await put(api, api.user, body)
    assert status == 422 and refused["error"]["message"] == message
    assert (await api.get(PATH, api.user)) == (200, before)


async def test_saved_preferences_decide_the_channels_of_a_notification(
    api: Api, resources: Resources
) -> None:
    status, _ = await put(api, api.user, choose(warning=["database"]))
    assert status == 200
    (mine,) = await send_notification(resources, "Slow", "m", "warning", recipient_id=api.user_id)
    (theirs,) = await send_notification(
        resources, "Slow", "m", "warning", recipient_id=api.other_id
    )
    assert mine.channels == ["database"]
    assert "redis" in theirs.channels and "webhook" in theirs.channels  # the defaults
