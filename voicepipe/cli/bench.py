"""`voicepipe bench …`: benchmarks that print figures (and one JSON line with --json)."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from voicepipe.cli.common import command_settings
from voicepipe.settings import Settings


@click.group()
def bench() -> None:
    """Benchmarks, measured as ratios against a baseline in the same run."""


@contextlib.contextmanager
def bench_settings(prefix: str = "voicepipe-bench-") -> Iterator[Settings]:
    """Settings on servers of the bench's own in a temporary directory (unless URLs are set)."""
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as home,
        command_settings("bench", home=Path(home)) as settings,
    ):
        yield settings


def echo_figures(figures: dict[str, Any], as_json: bool, width: int) -> None:
    """One JSON line with --json, else a figure per line."""
    if as_json:
        click.echo(json.dumps(figures))
    else:
        for name, value in figures.items():
            click.echo(f"{name:>{width}}: {value}")
