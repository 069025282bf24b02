"""GET /health: 200 with every part up, 503 naming the part that is down; errors are JSON."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from voicepipe.embedded.procs import free_port
from voicepipe.engine.heartbeats import write_heartbeat
from voicepipe.resources import Resources
from voicepipe.settings import Settings
from voicepipe.web.app import init_app

ClientFactory = Callable[[Settings], Coroutine[Any, Any, TestClient[Any, Any]]]


async def _client(settings: Settings) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(init_app(settings)))
    await client.start_server()
    return client


async def test_health_ok_counts_live_workers(settings: Settings, resources: Resources) -> None:
    client = await _client(settings)
    try:
        response = await client.get("/health")
        body = await response.json()
        assert response.status == 200
        assert body["status"] == "ok" and body["workers"] == 0
        assert body["redis"]["status"] == "ok" and body["postgres"]["status"] == "ok"
        await write_heartbeat(resources.redis, "w1", {"pid": 1})
        assert (await (await client.get("/health")).json())["workers"] == 1
    finally:
        await client.close()


async def test_postgres_down_is_503_naming_postgres(settings: Settings) -> None:
    dead = settings.model_copy(
        update={"database_url": f"postgresql://x:y@127.0.0.1:{free_port()}/nope"}
    )
    client = await _client(dead)
    try:
        response = await client.get("/health")
        body = await response.json()
        assert response.status == 503
        assert body["postgres"]["status"] == "down" and body["redis"]["status"] == "ok"
    finally:
        await client.close()


async def test_redis_down_is_503_naming_redis(settings: Settings) -> None:
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    client = await _client(dead)
    try:
        response = await client.get("/health")
        body = await response.json()
        assert response.status == 503
        assert body["redis"]["status"] == "down" and body["postgres"]["status"] == "ok"
        assert body["workers"] is None
    finally:
        await client.close()


async def test_unknown_route_is_json_404_under_the_api_and_a_page_elsewhere(
    settings: Settings,
) -> None:
    client = await _client(settings)
    try:
        response = await client.get("/api/no/such/thing")
        assert response.status == 404
        assert (await response.json())["error"]["status"] == 404
        response = await client.get("/no/such/page")  # a browser's mistyped address
        assert response.status == 404
        assert response.content_type == "text/html"
        response = await client.post("/health")
        assert response.status == 405
        assert "message" in (await response.json())["error"]
    finally:
        await client.close()
