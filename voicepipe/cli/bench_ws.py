"""`voicepipe bench ws`: the websocket feed under N sockets (latency, delivery, isolation, memory,
a slow consumer)."""

from __future__ import annotations

import asyncio

import click

from voicepipe.bench.ws import WsBenchOptions, run_ws_bench
from voicepipe.cli.bench import bench_settings, echo_figures
from voicepipe.cli.common import ready_resources, run


@click.command("ws")
@click.option("--clients", default=5000, show_default=True, help="Sockets to hold open.")
@click.option(
    "--rate", default=100.0, show_default=True,
    help="Messages published a second, alternately a job event and a notification.",
)  # fmt: skip
@click.option("--seconds", default=10.0, show_default=True, help="Length of each phase.")
@click.option(
    "--web-processes", default=1, show_default=True,
    help="`voicepipe web` processes serving the sockets (one Redis subscription each).",
)  # fmt: skip
@click.option(
    "--load-processes", default=0, show_default=True,
    help="Processes holding the sockets; 0: one per 8000 sockets.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
def ws(clients: int, rate: float, seconds: float, web_processes: int, load_processes: int,
       as_json: bool) -> None:  # fmt: skip
    """Hold N authenticated sockets (about 5 % admins) against web processes of the bench's own,
    publish job events and notifications at a steady rate, and report delivery latency from
    publish to receipt, delivered/expected, isolation errors, web RSS per connection, and what one
    client that reads nothing does to the others.

    Starts its own Valkey and PostgreSQL in a temporary directory unless REDIS_URL and
    DATABASE_URL are set.
    """
    options = WsBenchOptions(clients, rate, seconds, web_processes, load_processes)
    with bench_settings("voicepipe-ws-") as settings:

        async def main(stop: asyncio.Event) -> None:
            async with ready_resources(settings) as resources:
                figures = await run_ws_bench(
                    resources, options, lambda line: click.echo(line, err=True)
                )
            echo_figures(figures, as_json, width=22)

        run(main)
