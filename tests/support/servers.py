"""The test suite's own Valkey and PostgreSQL, and a fresh database per test from a migrated template."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from voicepipe.db.migrate import migrate
from voicepipe.embedded.servers import EmbeddedServers
from voicepipe.embedded.valkey import EmbeddedValkey

TEMPLATE = "voicepipe_template"
_counter = itertools.count()


class SuiteServers:
    """Started once per session; hands out databases made from a migrated template."""

    def __init__(self, home: Path) -> None:
        self.servers = EmbeddedServers(home)

    def start(self) -> None:
        self.servers.acquire(need_redis=True, need_postgres=True)

    def stop(self) -> None:
        self.servers.release()

    @property
    def redis_url(self) -> str:
        return self.servers.valkey.url

    def database_url(self, name: str) -> str:
        return self.servers.postgres.url_for(name)

    async def make_template(self) -> None:
        admin = await asyncpg.connect(self.database_url("postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(self.database_url(TEMPLATE))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    async def fresh_database(self) -> str:
        name = f"test_{os.getpid()}_{next(_counter)}"
        admin = await asyncpg.connect(self.database_url("postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        finally:
            await admin.close()
        return name

    async def drop_database(self, name: str) -> None:
        admin = await asyncpg.connect(self.database_url("postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def own_valkey(home: Path) -> AsyncIterator[EmbeddedValkey]:
    """A Valkey of a test's own, for what must not touch the suite's shared one (a restart, a
    memory cap, a replica)."""
    server = EmbeddedValkey(home)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)
