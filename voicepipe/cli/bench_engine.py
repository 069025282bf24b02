"""`voicepipe bench engine`: throughput, CPU, latency and idle cost of the job engine against arq and SAQ."""

from __future__ import annotations

import asyncio

import click

from voicepipe.cli.bench import bench_settings, echo_figures
from voicepipe.cli.common import ready_resources, run
from voicepipe.errors import ConfigError


@click.command("engine")
@click.option(
    "--jobs", "n_jobs", default=5000, show_default=True, help="No-op jobs per throughput run."
)
@click.option("--workers", default=1, show_default=True, help="Worker processes of each system.")
@click.option(
    "--concurrency", default=10, show_default=True, help="Jobs at once per worker (every system)."
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
    """Measure voicepipe against plain arq (its best of four configurations) and SAQ.

    All three run on the same servers: Valkey and PostgreSQL of the bench's own in a temporary
    directory unless REDIS_URL and DATABASE_URL are set. Needs the `bench` extra (SAQ).
    """
    try:
        from voicepipe.bench.engine import run_engine_bench
        from voicepipe.bench.engine_report import BenchOptions
    except ModuleNotFoundError as exc:
        if exc.name != "saq":
            raise
        raise ConfigError(
            "the engine bench compares with SAQ: pip install 'voicepipe[bench]'"
        ) from exc

    with bench_settings() as settings:
        options = BenchOptions(n_jobs, workers, concurrency, repeat, latency_samples, idle_s,
                               settings.worker_nice)  # fmt: skip

        async def main(stop: asyncio.Event) -> None:
            async with ready_resources(settings) as resources:
                figures = await run_engine_bench(
                    resources, options, lambda line: click.echo(line, err=True)
                )
            echo_figures(figures, as_json, width=29)

        run(main)
