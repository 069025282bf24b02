"""Reconnecting with `since=<id>`: the user's own notifications missed meanwhile, then live ones;
`reset` when the stream no longer reaches back that far."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.ws import app_client, joined, receive, until
from voicepipe import keys
from voicepipe.domain.notifications import Notification
from voicepipe.resources import Resources
from voicepipe.services.notifications import live, send_notification
from voicepipe.services.notifications.live import parse_id
from voicepipe.settings import Settings


def _note(recipient_id: int, title: str) -> Notification:
    return Notification(
        id=None, recipient_id=recipient_id, title=title, message="m", level="info",
        channels=["redis"], audience="user", created_at=datetime.now(UTC),
    )  # fmt: skip


async def test_a_reconnecting_client_gets_what_it_missed_then_live(
    resources: Resources, api: Api
) -> None:
    ws = await joined(api.client, api.user)
    await send_notification(resources, "one", "m", recipient_id=api.user_id)
    (last,) = await until(ws, lambda m: m["type"] == "notification")
    await ws.close()
    for title, recipient in [
        ("two", api.user_id),
        ("secret", api.other_id),
        ("three", api.user_id),
    ]:
        await send_notification(resources, title, "m", recipient_id=recipient)
    ws = await joined(api.client, api.user, f"?since={last['id']}")
    replayed = [await receive(ws), await receive(ws)]
    assert [m["notification"]["title"] for m in replayed] == ["two", "three"]
    assert all(parse_id(m["id"]) > parse_id(last["id"]) for m in replayed)
    await send_notification(resources, "four", "m", recipient_id=api.user_id)
    live_one = await receive(ws)
    assert live_one["notification"]["title"] == "four"  # once, after the replay

    caught_up = await joined(api.client, api.user, f"?since={live_one['id']}")
    await send_notification(resources, "five", "m", recipient_id=api.user_id)
    assert (await receive(caught_up))["notification"]["title"] == "five"  # nothing to replay


async def test_since_older_than_the_stream_keeps_is_a_reset(
    settings: Settings, resources: Resources, api: Api
) -> None:
    short = settings.model_copy(update={"ws_replay_max": 100})
    async with app_client(short) as client:
        kept = Resources(short, resources.redis, resources.db)  # trims to about 100
        ws = await joined(client, api.user)
        await live.publish(kept, [_note(api.user_id, "first")])
        (first,) = await until(ws, lambda m: m["type"] == "notification")
        await ws.close()
        for n in range(30):
            await live.publish(kept, [_note(api.other_id, f"n{n}") for _ in range(10)])
        oldest = await resources.redis.xrange(keys.NOTIFICATION_STREAM, count=1)
        assert parse_id(oldest[0][0].decode()) > parse_id(first["id"])  # trimmed past it
        ws = await joined(client, api.user, f"?since={first['id']}")
        reset = await receive(ws)
        assert reset["type"] == "reset" and "GET /api/jobs/notifications" in reset["message"]
        await live.publish(kept, [_note(api.user_id, "live again")])
        assert (await receive(ws))["notification"]["title"] == "live again"


async def test_a_bad_since_is_an_error_and_the_feed_goes_on(resources: Resources, api: Api) -> None:
    ws = await joined(api.client, api.user, "?since=yesterday")
    error = await receive(ws)
    assert error["type"] == "error" and "not a notification id" in error["message"]
    await send_notification(resources, "still live", "m", recipient_id=api.user_id)
    assert (await receive(ws))["notification"]["title"] == "still live"
