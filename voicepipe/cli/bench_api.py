"""`voicepipe bench api`: API latency (p50/p95 over HTTP) on a jobs table filled with N rows."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from voicepipe.bench.api import run_api_bench
from voicepipe.cli.bench import bench_settings
from voicepipe.cli.common import ready_resources, run


@click.command("api")
@click.option(
    "--rows", default=1_000_000, show_default=True, help="Job rows to add before measuring."
)
@click.option(
    "--rounds",
    default=200,
    show_default=True,
    help="Rounds of requests (each list query, one info, ...).",
)
@click.option(
    "--url", help="Measure this running web server instead of starting one (same servers)."
)
@click.option("--token", help="Admin API token for --url (default: a bench admin created here).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
def api(rows: int, rounds: int, url: str | None, token: str | None, as_json: bool) -> None:
    """Fill the jobs table with N realistic rows (several tasks, queues and statuses over 30 days,
    by COPY), then time /api/jobs with filters, /api/jobs/info/{id} and /api/jobs/statistics.

    Starts its own Valkey, PostgreSQL and web server in a temporary directory unless REDIS_URL and
    DATABASE_URL are set (and --url is given).
    """
    with bench_settings() as settings:

        async def main(stop: asyncio.Event) -> None:
            async with ready_resources(settings) as resources:
                with click.progressbar(length=rows, label="filling jobs", file=sys.stderr) as bar:
                    figures = await run_api_bench(
                        resources,
                        rows,
                        rounds,
                        url,
                        token,
                        lambda line: click.echo(line, err=True),
                        bar.update,
                    )
            if as_json:
                click.echo(json.dumps(figures))
            else:
                for kind in ("p50_ms", "p95_ms"):
                    for name, value in figures[kind].items():
                        click.echo(f"{kind[:3]} {name:>24}: {value} ms")

        run(main)
