"""`voicepipe bench pages`: server time (p50/p95), CPU and HTML size of every admin page on a
jobs table of N rows with 100 live workers; exits 1 if a page failed or missed its target."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click

from voicepipe.bench.pages import run_pages_bench
from voicepipe.cli.bench import bench_settings
from voicepipe.cli.common import ready_resources, run


@click.command("pages")
@click.option(
    "--rows", default=1_000_000, show_default=True, help="Job rows to add before measuring."
)
@click.option("--rounds", default=50, show_default=True, help="Requests of each page.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
def pages(rows: int, rounds: int, as_json: bool) -> None:
    """Fill the jobs table with N realistic rows (by COPY, as `bench api` does), write 100 worker
    heartbeats, an admin's notifications and a few recordings, then time every admin page
    (overview, jobs and its filters, job detail, queues, workers, scheduled, failed, recordings,
    notifications) over HTTP with an admin's session.

    Starts its own Valkey, PostgreSQL and web server in a temporary directory unless REDIS_URL and
    DATABASE_URL are set.
    """
    figures: dict[str, Any] = {}
    with bench_settings("voicepipe-bench-pages-") as settings:

        async def main(stop: asyncio.Event) -> None:
            async with ready_resources(settings) as resources:
                with click.progressbar(length=rows, label="filling jobs", file=sys.stderr) as bar:
                    figures.update(
                        await run_pages_bench(
                            resources, rows, rounds, lambda line: click.echo(line, err=True),
                            bar.update,
                        )
                    )  # fmt: skip

        run(main)
    if not figures:
        raise click.ClickException("the bench was interrupted")
    for line in table(figures):
        click.echo(line)
    if as_json:
        click.echo(json.dumps(figures))
    if not figures["all_ok"]:
        sys.exit(1)


def table(figures: dict[str, Any]) -> list[str]:
    """The figures as a readable table, failures spelled out under it."""
    head = (
        f"{'page':<18} {'path':<44} {'p50 ms':>8} {'p95 ms':>8} {'target':>7} {'cpu ms':>7} "
        f"{'KB':>7}  ok"
    )
    before, after, cpus = figures["load_1m_before_after_cpus"]
    lines = [
        f"{figures['rows']:,} job rows, {figures['workers']} workers; load average {before} → "
        f"{after} on {cpus} CPUs",
        head,
        "-" * len(head),
    ]
    for name, page in figures["pages"].items():
        lines.append(
            f"{name:<18} {_cut(page['path'], 44):<44} {_num(page['p50_ms']):>8} "
            f"{_num(page['p95_ms']):>8} {page['target_ms']:>7.0f} "
            f"{_num(page['cpu_ms_per_request']):>7} {page['html_bytes'] / 1024:>7.1f}  "
            + ("yes" if page["ok"] else "NO")
        )
    lines += [
        f"{name}: {page['error']}" for name, page in figures["pages"].items() if page["error"]
    ]
    lines.append(
        "all pages within target"
        if figures["all_ok"]
        else "SOME PAGES FAILED OR MISSED THEIR TARGET"
    )
    return lines


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
