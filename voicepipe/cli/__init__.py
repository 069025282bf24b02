"""The `voicepipe` command: one click group, one module per command family."""

from __future__ import annotations

import sys

import click

from voicepipe.errors import VoicepipeError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="voicepipe")
def cli() -> None:
    """voicepipe: background jobs and job monitoring for voice data."""


def _register() -> None:
    # Imported here so `voicepipe --help` stays fast and modules stay independent.
    from voicepipe.cli import (
        bench,
        bench_api,
        bench_chaos,
        bench_engine,
        bench_pages,
        bench_ws,
        run,
        users,
    )

    cli.add_command(run.up)
    cli.add_command(run.web_command)
    cli.add_command(run.worker)
    cli.add_command(run.migrate)
    cli.add_command(run.ping)
    cli.add_command(users.user)
    cli.add_command(bench.bench)
    bench.bench.add_command(bench_engine.engine)
    bench.bench.add_command(bench_api.api)
    bench.bench.add_command(bench_pages.pages)
    bench.bench.add_command(bench_chaos.chaos)
    bench.bench.add_command(bench_ws.ws)
    # domain tools
    from voicepipe.cli import bench_audio, chunk, consensus, process

    cli.add_command(process.process)
    cli.add_command(chunk.chunk)
    cli.add_command(consensus.consensus)
    bench.bench.add_command(bench_audio.audio)


def main() -> None:
    """Console entry point: runs the group and turns VoicepipeError into one readable line."""
    _register()
    try:
        # Outside standalone mode click returns a command's exit code instead of exiting with it.
        code = cli.main(standalone_mode=False)
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except VoicepipeError as exc:
        click.echo(f"voicepipe: error: {exc}", err=True)
        sys.exit(2)
