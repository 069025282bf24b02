"""Lua scripts loaded once per process: each is parsed and hashed at import and run by its digest.

redis-py's `register_script` builds a script object per call; voicepipe's scripts are module-level
`LuaScript`s instead, called with the client (or pipeline) to run on. A server that has not seen a
script yet (a fresh or restarted Valkey) gets it loaded on the first call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript


class LuaScript:
    """One Lua script; `await script(client, keys, args)` runs it on `client` (a pool or a pipeline)."""

    def __init__(self, source: str) -> None:
        self.source = source
        # given bytes, AsyncScript needs no client to hash them; every call names its client
        self._script = AsyncScript(None, source.encode())  # type: ignore[arg-type]

    async def __call__(
        self, client: Redis | Pipeline, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        return await self._script(keys=list(keys), args=list(args), client=client)
