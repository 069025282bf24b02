"""The long-running commands (`up`, `web`, `worker`) and the operations `migrate` and `ping`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time

import click
from aiohttp import ClientSession, ClientTimeout, web

from voicepipe.cli.common import command_settings, ready_resources, run
from voicepipe.embedded.supervisor import Child, Supervisor, restart_exit_code, voicepipe_argv
from voicepipe.errors import InvalidInput
from voicepipe.services.accounts import bootstrap_admin
from voicepipe.settings import QUEUES, Settings, child_environment

log = logging.getLogger("voicepipe")


def _queues(value: str) -> list[str]:
    queues = [q.strip() for q in value.split(",") if q.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown or not queues:
        raise InvalidInput(
            f"unknown queue(s) {', '.join(unknown) or '(none)'}; queues are {', '.join(QUEUES)}"
        )
    return queues


@click.command()
def migrate() -> None:
    """Apply pending database migrations."""
    with command_settings("cli") as settings:

        async def main(stop: asyncio.Event) -> None:
            async with ready_resources(settings):
                pass

        run(main)
    click.echo("database is up to date")


@click.command("web")
@click.option("--host", help="Address to listen on [VOICEPIPE_HOST].")
@click.option("--port", type=int, help="Port to listen on [VOICEPIPE_PORT].")
def web_command(host: str | None, port: int | None) -> None:
    """Run the web server (JSON API, admin pages, /health)."""
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    with command_settings("web", **overrides) as settings:
        run(lambda stop: serve_web(settings, stop))


async def serve_web(settings: Settings, stop: asyncio.Event) -> None:
    from voicepipe.web.app import init_app

    async with ready_resources(settings):
        pass  # migrations applied before the first request
    runner = web.AppRunner(init_app(settings), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, shutdown_timeout=5)
    await site.start()
    from voicepipe.web.gc_policy import apply_after_startup

    apply_after_startup()  # the websocket feed's latency: see voicepipe.web.gc_policy
    log.info("web listening on http://%s:%s", settings.host, settings.port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


@click.command()
@click.option("--queues", help="Comma-separated queues to serve [VOICEPIPE_WORKER_QUEUES].")
@click.option(
    "--concurrency", type=int, help="Jobs at once per queue [VOICEPIPE_WORKER_CONCURRENCY]."
)
@click.option(
    "--supervise/--no-supervise",
    default=True,
    show_default=True,
    help="Run the worker as a child that is restarted when it exits (restart-workers needs it).",
)
def worker(queues: str | None, concurrency: int | None, supervise: bool) -> None:
    """Run a worker process serving one or more queues."""
    overrides: dict[str, object] = {}
    if queues is not None:
        overrides["worker_queues"] = queues
    if concurrency is not None:
        overrides["worker_concurrency"] = concurrency
    with command_settings("worker", **overrides) as settings:
        if supervise:
            run(lambda stop: supervise_worker(settings, stop))
        else:
            run(lambda stop: serve_worker(settings, stop))


def worker_child(settings: Settings) -> Child:
    """The supervised `voicepipe worker` process for these settings."""
    argv = voicepipe_argv(
        "worker", "--no-supervise", "--queues", ",".join(_queues(settings.worker_queues)),
        "--concurrency", str(settings.worker_concurrency),
    )  # fmt: skip
    return Child("worker", argv, child_environment(settings))


async def supervise_worker(settings: Settings, stop: asyncio.Event) -> None:
    await Supervisor([worker_child(settings)], _stop_timeout_s(settings)).run(stop)


async def serve_worker(settings: Settings, stop: asyncio.Event) -> None:
    import voicepipe.tasks  # noqa: F401  (registers every task)
    from voicepipe.worker.runner import WorkerProcess

    queues = _queues(settings.worker_queues)
    if settings.worker_nice:
        # Batch work yields the CPU to Valkey, PostgreSQL and the web server on a shared host: the
        # broker is never preempted by the workers waiting on it, and pages stay responsive.
        os.nice(settings.worker_nice)
    async with ready_resources(settings, postgres_optional=True) as resources:
        process = WorkerProcess(resources, queues, settings.worker_concurrency)
        await process.run(stop)
    if process.restart_reason is not None:  # an admin asked, or a recycling limit was passed
        raise SystemExit(restart_exit_code(process.restart_reason))


def _stop_timeout_s(settings: Settings) -> float:
    """Long enough for a worker to use its grace period, then hand back what is left."""
    return settings.shutdown_grace_s + 5


@click.command()
@click.option(
    "--queue", default="default", show_default=True, help="Queue to send the ping through."
)
@click.option(
    "--timeout", "timeout_s", default=10.0, show_default=True, help="Seconds to wait for a worker."
)
def ping(queue: str, timeout_s: float) -> None:
    """Send a `ping` job through a queue and wait for a worker to answer."""
    with command_settings("cli") as settings:

        async def main(stop: asyncio.Event) -> None:
            from voicepipe.tasks.ping import ping as ping_task

            async with ready_resources(settings, db_pool_size=1) as resources:
                started = time.perf_counter()
                handle = await ping_task.enqueue(resources, queue=_queues(queue)[0])
                try:
                    result = await handle.result(timeout_s=timeout_s)
                except TimeoutError:
                    raise click.ClickException(
                        f"no worker answered on queue {queue} within {timeout_s:.0f}s"
                    ) from None
                elapsed_ms = (time.perf_counter() - started) * 1000
                click.echo(json.dumps({"round_trip_ms": round(elapsed_ms, 1), **result}))

        run(main)


@click.command()
@click.option("--host", help="Address of the web server [VOICEPIPE_HOST].")
@click.option("--port", type=int, help="Port of the web server [VOICEPIPE_PORT].")
@click.option(
    "--concurrency", type=int, help="Jobs at once per queue [VOICEPIPE_WORKER_CONCURRENCY]."
)
def up(host: str | None, port: int | None, concurrency: int | None) -> None:
    """Run everything on this machine: servers, migrations, web and a worker for all queues."""
    overrides = {
        k: v
        for k, v in {"host": host, "port": port, "worker_concurrency": concurrency}.items()
        if v is not None
    }
    with command_settings("up", **overrides) as settings:
        run(lambda stop: _up(settings, stop))


async def _up(settings: Settings, stop: asyncio.Event) -> None:
    async with ready_resources(settings, db_pool_size=2) as resources:
        admin = await bootstrap_admin(resources.db, settings.admin_email)
    if admin is not None:
        click.echo(
            "\nCreated the first admin account. Save these now; they are not shown again:\n"
            f"  email:     {admin.email}\n  password:  {admin.password}\n  API token: {admin.token}\n"
        )
    env = child_environment(settings)
    children = [
        Child(
            "web", voicepipe_argv("web", "--host", settings.host, "--port", str(settings.port)), env
        ),
        worker_child(settings.model_copy(update={"worker_queues": ",".join(QUEUES)})),
    ]
    supervisor = Supervisor(children, stop_timeout_s=_stop_timeout_s(settings))
    announce = asyncio.create_task(_announce_when_healthy(settings, stop))
    try:
        await supervisor.run(stop)
    finally:
        announce.cancel()
    log.info("voicepipe stopped")


async def _announce_when_healthy(settings: Settings, stop: asyncio.Event) -> None:
    url = f"http://{settings.host}:{settings.port}/health"
    async with ClientSession(timeout=ClientTimeout(total=2)) as http:
        while not stop.is_set():
            try:
                async with http.get(url) as response:
                    report = await response.json()
                    if response.status == 200 and report.get("workers"):
                        click.echo(
                            f"voicepipe is up: http://{settings.host}:{settings.port}/  (Ctrl-C stops it)"
                        )
                        return
            except (TimeoutError, OSError, ValueError):
                pass
            await asyncio.sleep(0.2)
