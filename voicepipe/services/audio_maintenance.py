"""Keeping audio storage and recordings tidy: orphaned files and rows removed, transient failures
queued again, recordings whose job ended without a word (terminated, out of time) failed.

Cleanup never touches a recording whose processing job is queued or running (its run writes a
folder the database does not name yet), nor a file younger than ORPHAN_MIN_AGE_S (an upload or
an export between its file and its row). Each kind of deletion stops at MAX_DELETIONS a run; the
next run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicepipe.audio.storage import Storage
from voicepipe.db import processing as processing_db
from voicepipe.domain.jobs import TERMINAL
from voicepipe.engine.registry import broker_for, get_task
from voicepipe.errors import InvalidInput
from voicepipe.history import monitoring
from voicepipe.history.job_status import live_status
from voicepipe.resources import Resources
from voicepipe.services.processing import PROCESS_TASK

log = logging.getLogger(__name__)

ORPHAN_MIN_AGE_S = 3600.0
UPLOAD_MAX_AGE_S = 86_400.0
MAX_DELETIONS = 1000
PAGE = 500
REPROCESS_PER_RUN = 200
# longer than the processing job's hard time limit: a recording processing this long without a
# change has lost its job
STALE_PROCESSING_S = 31 * 60.0
SUSPICIOUS_LOSS = 20  # more chunk files than this all missing: the storage is away, not the files


async def cleanup_orphans(resources: Resources) -> dict[str, Any]:
    """Delete stale upload temp files, recording files and chunk files no row names, and chunk
    rows whose file is gone (their audio cannot be served or transcribed); returns the counts."""
    storage = Storage(resources.settings.storage_root)
    old_before = time.time() - ORPHAN_MIN_AGE_S
    busy = await _busy_recordings(resources)
    uploads = await asyncio.to_thread(
        _remove_old_files, storage.uploads_dir, time.time() - UPLOAD_MAX_AGE_S
    )
    report = {
        "upload_temp_files": uploads,
        "recording_files": await _recording_files(resources, storage, old_before),
        "chunk_files": await _chunk_files(resources, storage, old_before, busy),
        "chunk_rows": await _chunk_rows(resources, storage, busy),
        "skipped_live_recordings": len(busy),
    }
    if any(
        report[k] for k in ("upload_temp_files", "recording_files", "chunk_files", "chunk_rows")
    ):
        log.info("audio cleanup: %s", report)
    return report


async def _busy_recordings(resources: Resources) -> set[int]:
    """Recordings whose processing job is queued, deferred or running."""
    queue = get_task(PROCESS_TASK).queue
    busy = set()
    for recording_id, job_id in await processing_db.live_candidates(resources.db):
        status = await live_status(resources, job_id, queue)
        if status is not None and status not in TERMINAL:
            busy.add(recording_id)
    return busy


def _remove_old_files(folder: Path, before: float, limit: int = MAX_DELETIONS) -> int:
    removed = 0
    if not folder.is_dir():
        return 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if removed >= limit:
                break
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < before:
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
    return removed


def _old_names(folder: Path, before: float) -> list[str]:
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        return [
            e.name
            for e in entries
            if e.is_file(follow_symlinks=False) and e.stat().st_mtime < before
        ]


async def _recording_files(resources: Resources, storage: Storage, before: float) -> int:
    names = await asyncio.to_thread(_old_names, storage.recordings_dir, before)
    removed = 0
    for start in range(0, len(names), PAGE):
        page = names[start : start + PAGE]
        known = await processing_db.known_storage_names(resources.db, page)
        for name in page:
            if name not in known and removed < MAX_DELETIONS:
                (storage.recordings_dir / name).unlink(missing_ok=True)
                removed += 1
    return removed


@dataclass(frozen=True)
class _Generation:
    """One run's chunk folder: its old top-level files (as chunk storage names), whether
    nothing in it is younger than the age limit, and how many files it holds in all."""

    recording_id: int
    path: Path
    old_names: list[str]
    all_old: bool
    files: int


def _scan_generations(storage: Storage, before: float) -> list[_Generation]:
    found: list[_Generation] = []
    if not storage.chunks_dir.is_dir():
        return found
    for folder in storage.chunks_dir.iterdir():
        if not folder.name.isdigit() or not folder.is_dir():
            continue
        for generation in folder.iterdir():
            if not generation.is_dir():
                continue
            inside = list(generation.rglob("*"))  # a killed export's scratch folder too
            newest = max([p.stat().st_mtime for p in inside] + [generation.stat().st_mtime])
            old = [
                f"{folder.name}/{generation.name}/{p.name}"
                for p in generation.iterdir()
                if p.is_file() and p.stat().st_mtime < before
            ]
            files = sum(p.is_file() for p in inside)
            found.append(_Generation(int(folder.name), generation, old, newest < before, files))
    return found


def _prune(storage: Storage, generations: list[_Generation], named: set[str], limit: int) -> int:
    """Remove the files no row names: whole folders of runs no row names once nothing in them
    is recent, single old files in the others. Returns how many files went."""
    in_use = {name.rsplit("/", 1)[0] for name in named}
    removed = 0
    for g in generations:
        if removed >= limit:
            break
        if f"{g.recording_id}/{g.path.name}" not in in_use:
            if g.all_old:
                shutil.rmtree(g.path, ignore_errors=True)
                removed += g.files
            continue
        for name in g.old_names:
            if name not in named and removed < limit:
                _unlink_chunk(storage, name)
                removed += 1
    for folder in {g.path.parent for g in generations}:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if nothing is left of the recording's runs
    return removed


async def _chunk_files(
    resources: Resources, storage: Storage, before: float, busy: set[int]
) -> int:
    scanned = await asyncio.to_thread(_scan_generations, storage, before)
    generations = [g for g in scanned if g.recording_id not in busy]
    ids = sorted({g.recording_id for g in generations})
    removed = 0
    for start in range(0, len(ids), PAGE):
        page = set(ids[start : start + PAGE])
        named = await processing_db.chunk_names_of(resources.db, sorted(page))
        mine = [g for g in generations if g.recording_id in page]
        removed += await asyncio.to_thread(_prune, storage, mine, named, MAX_DELETIONS - removed)
    return removed


def _unlink_chunk(storage: Storage, name: str) -> None:
    try:
        storage.chunk_path(name).unlink(missing_ok=True)
    except InvalidInput:  # not a name voicepipe makes: someone else's file, left alone
        return


def _missing(storage: Storage, names: list[tuple[int, str]]) -> list[int]:
    return [chunk_id for chunk_id, name in names if not storage.chunk_path(name).is_file()]


async def _chunk_rows(resources: Resources, storage: Storage, busy: set[int]) -> int:
    gone: list[int] = []
    checked = 0
    after_id = 0
    while len(gone) < MAX_DELETIONS:
        page = await processing_db.chunks_after(resources.db, after_id, PAGE)
        if not page:
            break
        after_id = page[-1][0]
        names = [(cid, name) for cid, rid, name in page if rid not in busy]
        checked += len(names)
        gone += await asyncio.to_thread(_missing, storage, names)
    gone = gone[:MAX_DELETIONS]
    if not gone:
        return 0
    if len(gone) == checked > SUSPICIOUS_LOSS or not storage.chunks_dir.is_dir():
        # every file gone at once is a storage folder not mounted, not lost audio: the rows
        # (and the crowd's transcriptions on them) stay until the files are back or an admin acts
        log.warning("audio cleanup: none of %d chunk files found under %s; rows kept",
                    checked, storage.chunks_dir)  # fmt: skip
        return 0
    async with resources.db.acquire() as conn:
        return await processing_db.delete_chunks(conn, gone)


async def reprocess_failed(resources: Resources) -> dict[str, int]:
    """Queue recordings that failed for a transient reason again, each at most
    VOICEPIPE_REPROCESS_MAX_ATTEMPTS times; a permanent failure (the file itself) never."""
    max_attempts = resources.settings.reprocess_max_attempts
    failed = await processing_db.transient_failures(resources.db, max_attempts, REPROCESS_PER_RUN)
    process = get_task(PROCESS_TASK)
    specs = [
        process.spec(resources, {"recording_id": rid}, owner_id=owner_id,
                     job_id=f"reprocess-{rid}-{count + 1}", metadata={"reprocess": count + 1})
        for rid, owner_id, count in failed
    ]  # fmt: skip
    # queued first, counted after: after a crash between the two, the same job id is refused
    # next time (it ran or waits already); the attempt is counted then, the status left as is
    accepted = await broker_for(resources).enqueue(specs)
    requeued = 0
    for (rid, _, count), spec, new in zip(failed, specs, accepted, strict=True):
        counted = await processing_db.requeued(
            resources.db, rid, count + 1, spec.job_id if new else None
        )
        if counted and new:
            requeued += 1
    exhausted = await processing_db.count_exhausted(resources.db, max_attempts)
    return {
        "requeued": requeued,
        "exhausted": exhausted,
        "abandoned": await _fail_abandoned(resources),
    }


async def _fail_abandoned(resources: Resources) -> int:
    """Recordings left processing by a job that ended without a word (terminated, hard time
    limit) are failed with that job's error, so that they show what happened; not retried."""
    queue = get_task(PROCESS_TASK).queue
    failed = 0
    stale = await processing_db.stale_processing(
        resources.db, STALE_PROCESSING_S, REPROCESS_PER_RUN
    )
    for recording_id, job_id in stale:
        status = await live_status(resources, job_id, queue)
        if status is not None and status not in TERMINAL:
            continue  # queued again or still running: its job will tell
        info = await monitoring.get_job_info(resources, job_id)
        reason = info.error if info is not None and info.error else "no result"
        message = f"processing stopped: job {job_id} ended without finishing ({reason})"
        failed += await processing_db.abandoned(resources.db, recording_id, job_id, message)
    return failed
