"""`voicepipe bench chaos`: jobs through two supervised workers killed with -9 or stopped past their
heartbeat; nothing may be lost."""

from __future__ import annotations

import asyncio
import random

import click

from voicepipe.bench.chaos import ChaosBench, run_chaos_bench
from voicepipe.cli.bench import bench_settings, echo_figures
from voicepipe.cli.common import ready_resources, run
from voicepipe.embedded.postgres import EmbeddedPostgres


@click.command("chaos")
@click.option("--jobs", "n_jobs", default=300, show_default=True, help="Jobs to run.")
@click.option(
    "--kills", default=5, show_default=True, help="Workers killed with -9 during the run."
)
@click.option(
    "--stalls", default=0, show_default=True,
    help="Workers stopped (SIGSTOP) past their heartbeat expiry, then continued, during the run.",
)  # fmt: skip
@click.option("--concurrency", default=5, show_default=True, help="Jobs at once per worker.")
@click.option("--min-s", default=0.2, show_default=True, help="Shortest job, in seconds.")
@click.option("--max-s", default=1.0, show_default=True, help="Longest job, in seconds.")
@click.option(
    "--seed", type=int, help="Seed of the job lengths and fault moments (random if unset)."
)
@click.option(
    "--pg-outage-s", default=0.0, show_default=True,
    help="Stop PostgreSQL this long a third of the way in (embedded PostgreSQL only).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
def chaos(n_jobs: int, kills: int, stalls: int, concurrency: int, min_s: float, max_s: float,
          seed: int | None, pg_outage_s: float, as_json: bool) -> None:  # fmt: skip
    """Kill workers with -9 (and stop some for a while) as jobs run, then check every job's
    outcome in PostgreSQL.

    Starts its own Valkey and PostgreSQL in a temporary directory unless REDIS_URL and DATABASE_URL
    are set; two `voicepipe worker` processes run under the supervisor, which respawns them.
    """
    with bench_settings("voicepipe-chaos-") as settings:
        postgres = EmbeddedPostgres(settings.home_dir / "postgres")
        if pg_outage_s and not (postgres.data / "PG_VERSION").exists():
            raise click.UsageError(
                "--pg-outage-s needs the embedded PostgreSQL: unset DATABASE_URL"
            )

        async def main(stop: asyncio.Event) -> None:
            async with ready_resources(settings) as resources:
                bench = ChaosBench(
                    resources, n_jobs, kills, concurrency, min_s, max_s,
                    seed=random.randrange(2**31) if seed is None else seed,
                    pg_outage_s=pg_outage_s, stalls=stalls, postgres=postgres,
                    progress=lambda line: click.echo(f"\n{line}", err=True),
                )  # fmt: skip
                figures = await run_chaos_bench(bench)
            echo_figures(figures, as_json, width=18)

        run(main)
