"""The one place that opens and closes the Redis and PostgreSQL pools (web, worker, CLI, tests).

Opening never needs the servers to be up: connections are made on first use, so a web process can
start and report 503 while a dependency is down. `wait_ready` is for callers that must not start
without them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool

from voicepipe import keys
from voicepipe.errors import ConfigError, DependencyUnavailable
from voicepipe.settings import Settings


@dataclass(frozen=True)
class Resources:
    """Everything a request handler, a job or a command needs to reach the outside world."""

    settings: Settings
    redis: ArqRedis
    db: asyncpg.Pool


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def _redis(settings: Settings) -> ArqRedis:
    if settings.redis_url is None:
        raise ConfigError("REDIS_URL is not set and no embedded server was started")
    pool = ConnectionPool.from_url(
        settings.redis_url, socket_connect_timeout=2, health_check_interval=30
    )
    return ArqRedis(pool, default_queue_name=keys.queue("default"))


async def _db(settings: Settings, max_size: int) -> asyncpg.Pool:
    if settings.database_url is None:
        raise ConfigError("DATABASE_URL is not set and no embedded server was started")
    pool: asyncpg.Pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=0,
        max_size=max_size,
        init=_init_connection,
        timeout=5,
        command_timeout=60,
    )
    return pool


@asynccontextmanager
async def open_resources(settings: Settings, db_pool_size: int = 10) -> AsyncIterator[Resources]:
    redis = _redis(settings)
    try:
        db = await _db(settings, db_pool_size)
        try:
            yield Resources(settings=settings, redis=redis, db=db)
        finally:
            await asyncio.wait_for(db.close(), 10)
    finally:
        await redis.aclose()


async def wait_ready(resources: Resources, timeout_s: float = 30.0, postgres: bool = True) -> None:
    """Wait until Redis and PostgreSQL (unless not `postgres`) answer, or raise
    DependencyUnavailable naming the one that doesn't."""
    deadline = time.monotonic() + timeout_s

    async def redis_up() -> None:
        await resources.redis.ping()

    async def postgres_up() -> None:
        await resources.db.fetchval("SELECT 1")

    probes = (
        [("Redis", redis_up), ("PostgreSQL", postgres_up)] if postgres else [("Redis", redis_up)]
    )
    for name, probe in probes:
        while True:
            try:
                await asyncio.wait_for(probe(), 5)
                break
            except Exception as exc:  # any failure to connect means "not yet"
                if time.monotonic() > deadline:
                    raise DependencyUnavailable(f"{name} is not reachable: {exc}") from exc
                await asyncio.sleep(0.2)
