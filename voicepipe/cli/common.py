"""What every command does first: settings, logging, servers, pools, signal handling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import uvloop

from voicepipe.db.migrate import migrate
from voicepipe.embedded.servers import servers_for
from voicepipe.logs import setup_logging
from voicepipe.resources import Resources, open_resources, wait_ready
from voicepipe.settings import Settings, load_settings

log = logging.getLogger(__name__)


@contextlib.contextmanager
def command_settings(role: str, **overrides: object) -> Iterator[Settings]:
    """Settings with REDIS_URL / DATABASE_URL resolved (embedded servers while the command runs)."""
    settings = load_settings(**overrides)
    setup_logging(settings.log_level, role)
    with servers_for(settings) as resolved:
        yield resolved


@asynccontextmanager
async def ready_resources(
    settings: Settings, db_pool_size: int = 10, postgres_optional: bool = False
) -> AsyncIterator[Resources]:
    """Open pools, wait for both servers, apply pending migrations.

    With `postgres_optional` (a worker: jobs need only Redis) a PostgreSQL that is down is logged
    and skipped; its history is recorded once it is back.
    """
    async with open_resources(settings, db_pool_size) as resources:
        await wait_ready(resources, settings.startup_timeout_s, postgres=not postgres_optional)
        try:
            async with resources.db.acquire() as conn:
                await migrate(conn)
        except Exception as exc:
            if not postgres_optional:
                raise
            log.warning("PostgreSQL is not reachable (%s); starting anyway, history waits", exc)
        yield resources


def run(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)` on uvloop; SIGINT/SIGTERM set `stop`, a second one cancels outright."""

    async def runner() -> None:
        stop = asyncio.Event()
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if stop.is_set() and task is not None:
                task.cancel()
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        with contextlib.suppress(asyncio.CancelledError):
            await main(stop)

    uvloop.run(runner())
