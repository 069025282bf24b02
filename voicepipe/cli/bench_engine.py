"""`voicepipe bench engine`: throughput, latency and idle cost of the job engine against plain arq."""

from __future__ import annotations

import asyncio

import click

from voicepipe.bench.engine import EngineBench, run_engine_bench
from voicepipe.cli.bench import bench_settings, echo_figures
from voicepipe.cli.common import ready_resources, run


@click.command("engine")
@click.option(
    "--jobs", "n_jobs", default=5000, show_default=True, help="No-op jobs per throughput round."
)
@click.option("--workers", default=1, show_default=True, help="Worker processes of each system.")
@click.option(
    "--concurrency", default=10, show_default=True, help="Jobs at once per worker (both systems)."
)
@click.option(
    "--repeat", default=3, show_default=True, help="Throughput rounds; medians are reported."
)
@click.option(
    "--latency-samples", default=200, show_default=True, help="Sequential jobs for latency."
)
@click.option(
    "--idle-s", default=10.0, show_default=True, help="Seconds an idle worker's CPU is measured."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
def engine(n_jobs: int, workers: int, concurrency: int, repeat: int, latency_samples: int, idle_s: float,
           as_json: bool) -> None:  # fmt: skip
    """Measure voicepipe against plain arq (poll_delay 0.01 s) on the same servers.

    Starts its own Valkey and PostgreSQL in a temporary directory unless REDIS_URL and DATABASE_URL
    are set.
    """
    with bench_settings() as settings:

        async def main(stop: asyncio.Event) -> None:
            async with ready_resources(settings) as resources:
                bench = EngineBench(
                    resources, n_jobs, workers, concurrency, lambda line: click.echo(line, err=True)
                )
                figures = await run_engine_bench(bench, repeat, latency_samples, idle_s)
            echo_figures(figures, as_json, width=26)

        run(main)
