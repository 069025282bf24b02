"""A customer's webhook endpoint for tests: a real HTTP server on 127.0.0.1 that verifies every
request with the `standardwebhooks` library, dedupes on `webhook-id`, and answers as scripted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass(frozen=True)
class Answer:
    """How the receiver answers one request; `hold`: only once `Receiver.release` is set."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    text: str = "ok"
    hold: bool = False


@dataclass(frozen=True)
class Received:
    msg_id: str
    path: str
    event: dict[str, Any]


class Receiver:
    """Requests are verified against `secret` (set it once the endpoint is registered); answers
    are taken from `script` in order, then 200."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.url = ""
        self.script: list[Answer] = []
        self.requests: list[Received] = []  # every verified request, duplicates too
        self.events: dict[str, dict[str, Any]] = {}  # what a deduping customer keeps, by id
        self.duplicates = 0
        self.bad_signatures = 0
        self.holding = asyncio.Event()  # a held request has arrived
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            assert self.secret is not None, "a request came before the endpoint had a secret"
            event = Webhook(self.secret).verify(body, dict(request.headers))
        except (WebhookVerificationError, AssertionError):
            self.bad_signatures += 1
            return web.Response(status=401)
        msg_id = request.headers["webhook-id"]
        self.requests.append(Received(msg_id, request.path, event))
        if msg_id in self.events:
            self.duplicates += 1
        self.events.setdefault(msg_id, event)
        answer = self.script.pop(0) if self.script else Answer()
        if answer.hold:
            self.holding.set()
            await self.release.wait()
        return web.Response(status=answer.status, headers=answer.headers, text=answer.text)

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events.values() if e["type"] == type_]


@asynccontextmanager
async def receiving(path: str = "/hook") -> AsyncIterator[Receiver]:
    """A Receiver listening on 127.0.0.1; `receiver.url` is its URL at `path`."""
    receiver = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    receiver.url = f"http://127.0.0.1:{server.port}{path}"
    try:
        yield receiver
    finally:
        receiver.release.set()
        await server.close()


@pytest.fixture(name="receiver")
async def receiver_fixture() -> AsyncIterator[Receiver]:
    """Import `receiver_fixture` into a test module to get a `receiver` for each test."""
    async with receiving() as started:
        yield started
