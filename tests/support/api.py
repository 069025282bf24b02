"""A live API server for tests: the real app on a real port, an admin and a user with tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from voicepipe.resources import Resources
from voicepipe.services.accounts import create_user
from voicepipe.settings import Settings
from voicepipe.web.app import init_app


@dataclass
class Api:
    """A client of the running app and the tokens of an admin and two users."""

    client: TestClient[Any, Any]
    admin: str
    user: str
    user_id: int
    other: str
    other_id: int

    @staticmethod
    def auth(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def get(self, path: str, token: str | None, **kwargs: Any) -> tuple[int, Any]:
        response = await self.client.get(path, headers=self.auth(token), **kwargs)
        return response.status, await response.json()

    async def post(self, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
        response = await self.client.post(path, headers=self.auth(token), json=body)
        return response.status, await response.json()


async def start_api(settings: Settings, resources: Resources) -> Api:
    admin = await create_user(resources.db, "admin@example.org", admin=True)
    user = await create_user(resources.db, "user@example.org")
    other = await create_user(resources.db, "other@example.org")
    client: TestClient[Any, Any] = TestClient(TestServer(init_app(settings)))
    await client.start_server()
    return Api(client, admin.token, user.token, user.id, other.token, other.id)


@pytest.fixture(name="api")
async def api_fixture(settings: Settings, resources: Resources) -> AsyncIterator[Api]:
    """Import `api_fixture` into a test module to get the `api` fixture."""
    started = await start_api(settings, resources)
    yield started
    await started.client.close()
