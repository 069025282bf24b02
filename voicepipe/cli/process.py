"""`voicepipe process FILE…`: upload recordings through the upload service, optionally watch their jobs."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import click

from voicepipe.cli.common import command_settings, ready_resources, run
from voicepipe.domain.job_info import JobInfo
from voicepipe.errors import VoicepipeError
from voicepipe.history import monitoring
from voicepipe.resources import Resources
from voicepipe.services.accounts import find_user
from voicepipe.services.uploads import StoredUpload, store_upload

READ_BYTES = 1 << 20
POLL_S = 0.25  # how often a watched job's recorded state is read
FINAL = {"success", "failure", "cancelled"}


async def _file_blocks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while block := await asyncio.to_thread(f.read, READ_BYTES):
            yield block


async def _upload(
    resources: Resources, owner_id: int, path: Path, title: str | None
) -> StoredUpload:
    size = await asyncio.to_thread(lambda: path.stat().st_size)
    return await store_upload(
        resources, owner_id, _file_blocks(path), path.name, title, None, declared_size=size
    )


def _fraction(info: JobInfo | None) -> tuple[float, str]:
    """How far the job is (0..1) and what it is doing, from its newest recorded progress."""
    if info is None:
        return 0.0, "queued"
    if info.status in FINAL:
        return 1.0, info.status
    progress: Any = info.progress or {}
    current, total = progress.get("current") or 0, progress.get("total") or 0
    stage = (progress.get("info") or {}).get("stage") or info.status
    return (min(current / total, 1.0) if total else 0.0), str(stage)


async def _watch(resources: Resources, name: str, job_id: str, timeout_s: float) -> JobInfo:
    """Show a bar for the job until it ends; its final recorded state."""
    steps = 100
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    with click.progressbar(length=steps, label=f"{name}: queued", file=sys.stderr) as bar:
        while True:
            info = await monitoring.get_job_info(resources, job_id)
            fraction, stage = _fraction(info)
            bar.label = f"{name}: {stage}"
            bar.update(int(fraction * steps) - bar.pos)
            if info is not None and info.status in FINAL:
                return info
            if loop.time() > deadline:
                raise click.ClickException(f"{name}: job {job_id} did not end in {timeout_s:.0f} s")
            await asyncio.sleep(POLL_S)


def _outcome(name: str, info: JobInfo) -> tuple[bool, str]:
    if info.status == "success" and isinstance(info.result, dict):
        flags = info.result.get("quality_flags") or []
        note = f" (quality: {'; '.join(flags)})" if flags else ""
        chunks = info.result.get("chunks", "?")
        return True, f"{name}: {chunks} chunk{'' if chunks == 1 else 's'}{note}"
    return False, f"{name}: {info.status}: {info.error or 'no reason recorded'}"


@click.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--owner", "owner_email", help="Email of the recordings' owner [VOICEPIPE_ADMIN_EMAIL]."
)
@click.option("--title", help="Title of every recording uploaded (default: none).")
@click.option(
    "--wait", is_flag=True, help="Show each job's progress until it ends, then its chunks."
)
@click.option(
    "--timeout", "timeout_s", default=3600.0, show_default=True, help="Seconds to wait per job."
)
def process(
    files: tuple[Path, ...],
    owner_email: str | None,
    title: str | None,
    wait: bool,
    timeout_s: float,
) -> None:
    """Upload recordings for processing, as POST /api/recordings does; exit 1 if any failed."""
    with command_settings("cli") as settings:

        async def main(stop: asyncio.Event) -> None:
            failed = 0
            async with ready_resources(settings, db_pool_size=2) as resources:
                owner = await find_user(resources.db, owner_email or settings.admin_email)
                jobs: list[tuple[str, str]] = []
                for path in files:
                    try:
                        stored = await _upload(resources, owner.id, path, title)
                    except VoicepipeError as exc:
                        failed += 1
                        click.echo(f"voicepipe: error: {path.name}: {exc}", err=True)
                        continue
                    click.echo(f"{path.name}: recording {stored.recording.id}, job {stored.job_id}")
                    if stored.job_id is not None:
                        jobs.append((path.name, stored.job_id))
                if wait:
                    for name, job_id in jobs:
                        ok, line = _outcome(name, await _watch(resources, name, job_id, timeout_s))
                        failed += not ok
                        click.echo(line, err=not ok)
            if failed:
                raise click.exceptions.Exit(1)

        run(main)
