"""What a socket leaves behind: a closed or cut-off socket's subscriber and outbox are freed by
reference counting, without waiting for a garbage collection (at thousands of sockets a full
collection stalls the feed), and a message past 64 KB arrives whole."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.api import Api, api_fixture  # noqa: F401
from tests.support.waiting import eventually
from tests.support.ws import app_client, hub_of, joined, live_note, until
from voicepipe.bench.ws_slow import SlowClient
from voicepipe.resources import Resources
from voicepipe.services.notifications import live
from voicepipe.settings import Settings
from voicepipe.web.ws.hub import Hub


async def _async(value: bool) -> bool:
    return value


@contextmanager
def _without_gc() -> Iterator[None]:
    """Only reference counting frees objects meanwhile: what sits in a cycle stays."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _watch(hub: Hub) -> list[weakref.ref[Any]]:
    """Weak references to each socket's subscriber and outbox (the hub's own set, read here)."""
    subscribers = list(hub._subscribers)
    return [weakref.ref(s) for s in subscribers] + [weakref.ref(s.outbox) for s in subscribers]


async def _freed(refs: list[weakref.ref[Any]]) -> bool:
    return all(ref() is None for ref in refs)


async def test_a_closed_socket_is_freed_without_a_garbage_collection(
    settings: Settings, api: Api
) -> None:
    async with app_client(settings) as client:
        hub = hub_of(client)
        with _without_gc():
            ws = await joined(client, api.user)
            await eventually(lambda: _async(hub.sockets == 1), what="the socket to join")
            refs = _watch(hub)
            assert len(refs) == 2 and not await _freed(refs)
            await ws.close()
            await eventually(lambda: _async(hub.sockets == 0), what="the socket to be gone")
            await eventually(lambda: _freed(refs), what="its subscriber and outbox to be freed")


async def test_a_cut_off_socket_is_freed_without_a_garbage_collection(
    settings: Settings, resources: Resources, api: Api
) -> None:
    small = settings.model_copy(update={"ws_send_queue_bytes": 16 * 1024})
    async with app_client(small) as client:
        assert client.port is not None
        hub = hub_of(client)
        with _without_gc():
            slow = SlowClient()
            await slow.connect("127.0.0.1", client.port, "/ws", api.user)
            await eventually(lambda: _async(hub.sockets == 1), what="the slow socket to join")
            refs = _watch(hub)
            sent = 0
            while hub.slow_consumers == 0 and sent < 2000:
                await live.publish(resources, [live_note(api.user_id, f"big {sent}", 8000)])
                sent += 1
                await asyncio.sleep(0)  # the hub's reader gets its turn
            assert hub.slow_consumers == 1 and not await _freed(refs)
            drained = await slow.drain(timeout_s=10)
            assert drained.close_code == 4008
            await eventually(lambda: _async(hub.sockets == 0), what="the slow socket to be gone")
            await eventually(lambda: _freed(refs), what="its subscriber and outbox to be freed")


async def test_a_message_past_64_kb_arrives_whole(
    settings: Settings, resources: Resources, api: Api
) -> None:
    async with app_client(settings) as client:
        ws = await joined(client, api.user)
        await live.publish(resources, [live_note(api.user_id, "big", 100_000)])
        [*_, big] = await until(ws, lambda m: m["type"] == "notification")
        assert big["notification"]["data"]["pad"] == "x" * 100_000
