"""`voicepipe bench …`: benchmarks that print figures (and one JSON line with --json)."""

from __future__ import annotations

import click


@click.group()
def bench() -> None:
    """Benchmarks, measured as ratios against a baseline in the same run."""
