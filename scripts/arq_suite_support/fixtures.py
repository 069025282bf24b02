"""The fixtures of arq's conftest that this run replaces: Redis is the embedded Valkey, the event
loop is pytest-asyncio 1.x's, and the Worker class is the one chosen with --worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import arq.worker
import pytest
from arq.connections import ArqRedis

# attribute names in arq's conftest.py that arq_conftest's replacement takes from this module
REPLACED = (
    "redis_container",
    "test_redis_host",
    "test_redis_port",
    "_fix_loop",
    "worker",
    "worker_retry",
)
WORKERS = ("arq", "voicepipe")


class WorkerNotBuilt(Exception):
    """--worker names a Worker that cannot be used (yet)."""


def worker_class(kind: str) -> type[arq.worker.Worker]:
    """The Worker class arq's `worker` and `worker_retry` fixtures build: the one place where
    voicepipe's Worker replaces arq's (issue 16).

    Tests that construct `Worker(...)` themselves (a few in test_worker.py and test_cron.py) are
    not reached by this: they keep arq's unless the swap also patches their module's `Worker`.
    """
    if kind == "arq":
        return arq.worker.Worker
    if kind == "voicepipe":
        raise WorkerNotBuilt("voicepipe's arq Worker is not built yet (issue 16)")
    raise WorkerNotBuilt(f"unknown worker {kind!r}: choose one of {', '.join(WORKERS)}")


@pytest.fixture(scope="session")
def redis_container(request: pytest.FixtureRequest) -> str:
    """Stands for arq's Docker Redis: the URL of the Valkey scripts/arq_suite started."""
    url: str = request.config.getoption("arq_suite_redis_url")
    return url


@pytest.fixture(scope="session")
def test_redis_host(redis_container: str) -> str:
    return urlsplit(redis_container).hostname or "127.0.0.1"


@pytest.fixture(scope="session")
def test_redis_port(redis_container: str) -> int:
    return urlsplit(redis_container).port or 6379


@pytest.fixture(name="loop")
def _fix_loop(_function_scoped_runner: asyncio.Runner) -> asyncio.AbstractEventLoop:
    """arq's suite asks pytest-asyncio 0.23 for its `event_loop`, a fixture 1.x removed; the loop
    of 1.x's function-scoped runner is the one the test and its async fixtures run on."""
    return _function_scoped_runner.get_loop()


@pytest.fixture
async def worker(
    arq_redis: ArqRedis, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., arq.worker.Worker]]:
    """arq's `worker` fixture, building the chosen Worker class."""
    async for create in _worker_factory(arq_redis, request):
        yield create


@pytest.fixture
async def worker_retry(
    arq_redis_retry: ArqRedis, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., arq.worker.Worker]]:
    """arq's `worker_retry` fixture (a pool that retries on connection errors), same class."""
    async for create in _worker_factory(arq_redis_retry, request):
        yield create


async def _worker_factory(
    pool: ArqRedis, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., arq.worker.Worker]]:
    worker_cls = worker_class(request.config.getoption("arq_suite_worker"))
    built: arq.worker.Worker | None = None

    def create(
        functions: Any = (),
        burst: bool = True,
        poll_delay: float = 0,
        max_jobs: int = 10,
        arq_redis: ArqRedis = pool,
        **kwargs: Any,
    ) -> arq.worker.Worker:
        nonlocal built  # as in arq's fixture, only the last worker built is closed
        built = worker_cls(
            functions=list(functions),
            redis_pool=arq_redis,
            burst=burst,
            poll_delay=poll_delay,
            max_jobs=max_jobs,
            **kwargs,
        )
        return built

    yield create
    if built is not None:
        await built.close()
