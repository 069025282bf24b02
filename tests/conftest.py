"""Fixtures for every tier: the suite's servers, fresh settings, opened resources."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.support.servers import SuiteServers
from tests.support.speech import espeak_available
from voicepipe.resources import Resources, open_resources
from voicepipe.settings import Settings, load_settings


@pytest.fixture(scope="session")
def test_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuiteServers]:
    servers = SuiteServers(tmp_path_factory.mktemp("servers"))
    servers.start()
    asyncio.run(servers.make_template())
    yield servers
    servers.stop()


@pytest.fixture
async def settings(test_servers: SuiteServers, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings pointing at a fresh, migrated database and an empty Redis."""
    database = await test_servers.fresh_database()
    redis = Redis.from_url(test_servers.redis_url)
    await redis.flushall()
    await redis.aclose()
    yield load_settings(
        redis_url=test_servers.redis_url,
        database_url=test_servers.database_url(database),
        home=tmp_path / "home",
        shutdown_grace_s=2.0,
        job_retry_delay_s=0.2,
        alert_evaluate_s=0,  # tests evaluate alerts themselves, at the times they choose
    )
    await test_servers.drop_database(database)


@pytest.fixture(scope="session")
def espeak_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where espeak-ng's sentences are kept for the run; skips without espeak-ng (fails on CI)."""
    if not espeak_available():
        if os.environ.get("CI"):
            pytest.fail("espeak-ng is required on CI (apt-get install espeak-ng)")
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return tmp_path_factory.mktemp("espeak")


@pytest.fixture
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(settings) as opened:
        yield opened
