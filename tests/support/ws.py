"""Websocket feed clients for tests: connect to `/ws`, read messages of a type, run more apps."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from voicepipe.domain.notifications import Notification
from voicepipe.settings import Settings
from voicepipe.web.app import init_app
from voicepipe.web.ws.hub import HUB, FeedOptions, Hub

Message = dict[str, Any]


async def connect(
    client: TestClient[Any, Any], token: str | None = None, query: str = "", **headers: str
) -> ClientWebSocketResponse:
    """A socket to `/ws{query}`, with the token as a bearer header when given."""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await client.ws_connect("/ws" + query, headers=headers)


async def joined(
    client: TestClient[Any, Any], token: str, query: str = ""
) -> ClientWebSocketResponse:
    """An authenticated socket, once the feed has welcomed it (it gets every message after)."""
    ws = await connect(client, token, query)
    welcome = await receive(ws)
    assert welcome["type"] == "welcome", welcome
    return ws


async def receive(ws: ClientWebSocketResponse, timeout_s: float = 5.0) -> Message:
    message = await ws.receive(timeout=timeout_s)
    assert message.type == WSMsgType.TEXT, f"expected a message, got {message}"
    data: Message = json.loads(message.data)
    assert "id" in data and "type" in data, data
    return data


async def until(
    ws: ClientWebSocketResponse, last: Callable[[Message], bool], timeout_s: float = 5.0
) -> list[Message]:
    """Every message up to and including the first one `last` accepts."""
    seen = []
    while True:
        message = await receive(ws, timeout_s)
        seen.append(message)
        if last(message):
            return seen


async def closed_with(ws: ClientWebSocketResponse, timeout_s: float = 10.0) -> tuple[int, str]:
    """Read until the server closes the socket; its close code and reason."""
    while True:
        message = await ws.receive(timeout=timeout_s)
        if message.type == WSMsgType.CLOSE:  # the code the server's close frame carried
            return int(message.data), str(message.extra or "")
        if message.type in (WSMsgType.CLOSED, WSMsgType.CLOSING):
            return int(ws.close_code or 0), str(message.extra or "")


def hub_of(client: TestClient[Any, Any]) -> Hub:
    assert client.server.app is not None
    return client.server.app[HUB]


@asynccontextmanager
async def app_client(
    settings: Settings, options: FeedOptions | None = None
) -> AsyncIterator[TestClient[Any, Any]]:
    """Another web process: the real app on its own port, with its own hub."""
    client: TestClient[Any, Any] = TestClient(TestServer(init_app(settings, options)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def live_note(recipient_id: int, title: str, pad_bytes: int = 0) -> Notification:
    """A live-only notification to publish straight to the feed (`pad_bytes` makes it big)."""
    return Notification(
        id=None, recipient_id=recipient_id, title=title, message="m", level="info",
        channels=["redis"], audience="user", data={"pad": "x" * pad_bytes},
        created_at=datetime.now(UTC),
    )  # fmt: skip
