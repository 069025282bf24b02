"""The hub under pressure: a slow consumer is cut off (4008) while others keep receiving, two web
processes each serve their own sockets from one Redis, and a Valkey restart is ridden out."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.servers import own_valkey
from tests.support.waiting import eventually
from tests.support.ws import app_client, closed_with, hub_of, joined, live_note, until
from voicepipe.bench.ws_slow import SlowClient
from voicepipe.engine.registry import get_task
from voicepipe.resources import Resources, open_resources
from voicepipe.services.notifications import live, send_notification
from voicepipe.settings import Settings


async def _async(value: bool) -> bool:
    """A plain condition as the awaitable `eventually` asks."""
    return value


async def test_a_slow_consumer_is_cut_off_and_the_others_keep_receiving(
    settings: Settings, resources: Resources, api: Api
) -> None:
    small = settings.model_copy(update={"ws_send_queue_bytes": 16 * 1024})
    async with app_client(small) as client:
        assert client.port is not None
        hub = hub_of(client)
        normal = await joined(client, api.other)
        slow = SlowClient()
        await slow.connect("127.0.0.1", client.port, "/ws", api.user)
        await eventually(lambda: _async(hub.sockets == 2), what="both sockets joined")
        sent = 0
        while hub.slow_consumers == 0 and sent < 2000:  # ~16 MB at most; a few hundred KB do
            await live.publish(resources, [live_note(api.user_id, f"big {sent}", 8000),
                                           live_note(api.other_id, f"small {sent}")])  # fmt: skip
            sent += 1
            if sent % 20 == 0:
                await until(
                    normal, lambda m, n=sent: m["notification"]["title"] == f"small {n - 1}"
                )
        assert hub.slow_consumers == 1
        await live.publish(resources, [live_note(api.other_id, "after the cut-off")])
        await until(normal, lambda m: m["notification"]["title"] == "after the cut-off")
        drained = await slow.drain(timeout_s=10)
        assert (drained.close_code, drained.close_reason) == (4008, "slow consumer")
        assert drained.messages < sent + 1  # welcome included: it got only part
        await eventually(lambda: _async(hub.sockets == 1), what="the slow socket to be gone")


async def test_two_web_processes_each_deliver_to_their_own_sockets(
    settings: Settings, resources: Resources, api: Api
) -> None:
    async with app_client(settings) as second:
        user_on_first = await joined(api.client, api.user)
        other_on_second = await joined(second, api.other)
        admin_on_first = await joined(api.client, api.admin)
        admin_on_second = await joined(second, api.admin)
        await send_notification(resources, "to user", "m", recipient_id=api.user_id)
        await send_notification(resources, "to other", "m", recipient_id=api.other_id)
        job = await get_task("ping").enqueue(resources, owner_id=api.other_id)
        assert [m["notification"]["title"] for m in await until(
            user_on_first, lambda m: m["type"] == "notification")] == ["to user"]  # fmt: skip
        seen = await until(other_on_second, lambda m: m["type"] == "job")
        assert [m.get("notification", {}).get("title") for m in seen[:-1]] == ["to other"]
        assert seen[-1]["event"]["job_id"] == job.job_id
        for admin in (admin_on_first, admin_on_second):
            (queued,) = [m for m in await until(admin, lambda m: m["type"] == "job")]
            assert queued["event"]["job_id"] == job.job_id
        assert hub_of(api.client).sockets == 2 and hub_of(second).sockets == 2


async def test_the_hub_rides_out_a_valkey_restart(
    settings: Settings, api: Api, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voicepipe.web.ws.hub")
    async with own_valkey(tmp_path / "valkey") as server:
        own = settings.model_copy(update={"redis_url": server.url})
        async with open_resources(own) as resources, app_client(own) as client:
            hub = hub_of(client)
            user = await joined(client, api.user)
            await send_notification(resources, "before", "m", recipient_id=api.user_id)
            await until(user, lambda m: m["type"] == "notification")
            await asyncio.to_thread(server.stop)
            await eventually(lambda: _async(not hub.subscribed.is_set()), what="the hub to notice")
            await asyncio.to_thread(server.start)
            await eventually(lambda: _async(hub.subscribed.is_set()), timeout_s=20,
                             what="the hub to subscribe again")  # fmt: skip
            await send_notification(resources, "after", "m", recipient_id=api.user_id)
            job = await get_task("ping").enqueue(resources, owner_id=api.user_id)
            seen = await until(user, lambda m: m["type"] == "job", timeout_s=20)
            assert [m["notification"]["title"] for m in seen[:-1]] == ["after"]
            assert seen[-1]["event"]["job_id"] == job.job_id
    logged = [r.getMessage() for r in caplog.records]
    assert any("Redis is unreachable" in line for line in logged), logged
    assert any("working again" in line for line in logged), logged


async def test_a_stopping_server_says_it_is_going_away(settings: Settings, api: Api) -> None:
    async with app_client(settings) as client:
        ws = await joined(client, api.user)
        assert client.server.runner is not None
        await client.server.runner.shutdown()  # what a stopping `voicepipe web` runs first
        assert await closed_with(ws) == (1001, "server shutting down")
