"""`voicepipe chunk FILE…`: cut recordings into chunks at pauses; print them or write them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from voicepipe.audio import BadAudioError, chunk_file, export_chunks, probe_duration_s
from voicepipe.domain.chunking import ChunkingConfig, ChunkPlan
from voicepipe.errors import InvalidInput
from voicepipe.settings import load_settings

_PROGRESS_STEPS = 1000  # per file


@click.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--min-s", type=float, help="shortest chunk [VOICEPIPE_CHUNK_MIN_S, 1]")
@click.option("--max-s", type=float, help="longest chunk [VOICEPIPE_CHUNK_MAX_S, 15]")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="write each chunk as a 16 kHz mono file into this directory",
)
@click.option("--format", "fmt", type=click.Choice(["flac", "wav"]), default="flac")
@click.option("--json", "as_json", is_flag=True, help="one JSON object on one line")
def chunk(
    files: tuple[Path, ...],
    min_s: float | None,
    max_s: float | None,
    out: Path | None,
    fmt: str,
    as_json: bool,
) -> None:
    """Cut recordings at pauses into chunks of MIN_S to MAX_S seconds."""
    settings = load_settings()
    try:
        config = ChunkingConfig(
            min_s=settings.chunk_min_s if min_s is None else min_s,
            max_s=settings.chunk_max_s if max_s is None else max_s,
        )
    except ValueError as exc:
        raise InvalidInput(f"bad chunk bounds: {exc}") from exc
    stems = [path.stem for path in files]
    if len(set(stems)) != len(stems):
        raise InvalidInput("two files have the same name stem; results are keyed by stem")
    plans: dict[str, ChunkPlan] = {}
    failed = 0
    with click.progressbar(
        length=_PROGRESS_STEPS * len(files), label="chunking", file=sys.stderr
    ) as bar:
        for index, path in enumerate(files):
            duration_s = probe_duration_s(path)
            done = _PROGRESS_STEPS * index

            def on_progress(
                seconds: float, done: int = done, total: float | None = duration_s
            ) -> None:
                if total:
                    step = done + min(_PROGRESS_STEPS, int(_PROGRESS_STEPS * seconds / total))
                    bar.update(step - bar.pos)

            try:
                plans[path.stem] = plan = chunk_file(path, config, on_progress=on_progress)
                if out is not None:
                    export_chunks(path, plan, out, path.stem, "wav" if fmt == "wav" else "flac")
            except BadAudioError as exc:
                failed += 1
                click.echo(f"voicepipe: error: {exc}", err=True)
            bar.update(_PROGRESS_STEPS * (index + 1) - bar.pos)
    for stem, plan in plans.items():
        for c in plan.chunks:
            if c.forced_cut:
                click.echo(
                    f"{stem}: chunk {c.start_s:.2f}-{c.end_s:.2f} s has a forced cut "
                    "(no pause within the allowed length)",
                    err=True,
                )
    if as_json:
        click.echo(
            json.dumps(
                {
                    stem: {"chunks": [[c.start_s, c.end_s] for c in plan.chunks]}
                    for stem, plan in plans.items()
                },
                separators=(",", ":"),
            )
        )
    else:
        for stem, plan in plans.items():
            click.echo(
                f"{stem}: {len(plan.chunks)} chunks, {plan.speech_s:.1f} s speech "
                f"in {plan.duration_s:.1f} s"
            )
            for k, c in enumerate(plan.chunks, start=1):
                flag = "  forced cut" if c.forced_cut else ""
                click.echo(
                    f"  {k:4d}  {c.start_s:9.2f}  {c.end_s:9.2f}  {c.duration_s:6.2f} s{flag}"
                )
    if failed:
        raise click.exceptions.Exit(1)
