"""Consensus as jobs: a few chunks after their transcriptions arrive, or everything every 6 h.

The algorithm is voicepipe.domain.consensus exactly as `voicepipe consensus` runs it: prepare
each chunk, estimate contributor accuracy over all chunks (periodic job only; the per-chunk job
uses the stored reliabilities), decide each chunk with the NeedsMorePolicy of the settings.
Contributor ids given to the domain are str(user_id). CPU work runs in the worker's process
pool through the module-level functions below.

A result is written only while the chunk's transcription_count is still the one it was
computed from: a transcription that arrived meanwhile queued its own job, whose newer result
must not be overwritten by an older one.
"""

from __future__ import annotations

import itertools
import pickle
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, overload

import asyncpg

from voicepipe.db import consensus as consensus_db
from voicepipe.db import crowd as crowd_db
from voicepipe.db.consensus import ChunkResult, Row
from voicepipe.domain.consensus import (
    Decision,
    NeedsMorePolicy,
    PreparedChunk,
    Transcription,
    decide_chunk,
    estimate_accuracy_prepared,
    prepare,
)
from voicepipe.engine.job_context import JobContext
from voicepipe.errors import DependencyUnavailable
from voicepipe.settings import Settings

# What a second try can get past: PostgreSQL or the disk away for a moment, a deadlock with a
# concurrent writer, a CPU child that died. Anything else would fail the same way again.
RETRY_ON: tuple[type[BaseException], ...] = (
    DependencyUnavailable, OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
    asyncpg.DeadlockDetectedError, BrokenProcessPool,
)  # fmt: skip
STATUS = {
    Decision.ENOUGH: "consensus",
    Decision.NEED_MORE: "needs_more",
    Decision.EXPERT_REVIEW: "expert_review",
}
INLINE_MAX_ROWS = 200  # fewer transcriptions than this are decided on the event loop
RECOMPUTE_BATCH_CHUNKS = 500  # chunks per transaction in recalculate_all
STREAM_BATCH_ROWS = 5000
SPOOL_BATCH_CHUNKS = 500
SPOOL_STALE_S = 6 * 3600  # longer than the job's time limit: nobody is writing it any more


def policy_of(settings: Settings) -> NeedsMorePolicy:
    return NeedsMorePolicy(
        start_count=settings.consensus_min_transcriptions,
        confidence_threshold=settings.consensus_confidence,
        max_count=settings.consensus_max_transcriptions,
    )


def _by_chunk(rows: Iterable[Row]) -> Iterable[tuple[int, list[Row]]]:
    for chunk_id, group in itertools.groupby(rows, key=lambda row: row[0]):
        yield chunk_id, list(group)


def _prepared(group: list[Row]) -> PreparedChunk:
    return prepare([Transcription(str(contributor), text) for _, _, contributor, text in group])


def decide_rows(
    rows: list[Row], accuracy: dict[str, float], policy: NeedsMorePolicy, counts: dict[int, int]
) -> list[ChunkResult]:
    """Consensus, status and spam flags of every chunk in `rows` (ordered by chunk)."""
    results = []
    for chunk_id, group in _by_chunk(rows):
        decided = decide_chunk(_prepared(group), accuracy, policy)
        transcription_of = {str(contributor): tid for _, tid, contributor, _ in group}
        results.append(
            ChunkResult(
                chunk_id=chunk_id,
                transcription_count=counts.get(chunk_id, len(group)),
                consensus_text=decided.text,
                confidence=decided.confidence,
                status=STATUS[decided.decision],
                spam={transcription_of[cid]: reason for cid, reason in decided.spam},
            )
        )
    return results


def _read_batches(path: Path) -> Iterator[Any]:
    with path.open("rb") as spool:
        while True:
            try:
                yield pickle.load(spool)
            except EOFError:
                return


class _Spooled(Sequence[PreparedChunk]):
    """Prepared chunks kept in a file, read one batch at a time on every pass over them."""

    def __init__(self, path: Path, count: int) -> None:
        self.path, self.size = path, count

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[PreparedChunk]:
        for batch in _read_batches(self.path):
            yield from batch

    @overload
    def __getitem__(self, index: int) -> PreparedChunk: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[PreparedChunk]: ...
    def __getitem__(self, index: int | slice) -> PreparedChunk | Sequence[PreparedChunk]:
        return list(self)[index]  # not used by the estimate, which only iterates


def estimate_spooled(rows_path: Path, prepared_path: Path) -> dict[int, tuple[float, int]]:
    """Contributor -> (estimated accuracy, chunks transcribed), EM over every chunk of the
    transcription batches pickled in `rows_path` (ordered by chunk). The prepared chunks are
    spooled to `prepared_path`, so memory holds one batch, not a million transcriptions."""
    scored: dict[int, int] = {}
    count = 0
    with prepared_path.open("wb") as spool:
        batch: list[PreparedChunk] = []
        rows = itertools.chain.from_iterable(_read_batches(rows_path))
        for _, group in _by_chunk(rows):
            for _, _, contributor, _ in group:
                scored[contributor] = scored.get(contributor, 0) + 1
            batch.append(_prepared(group))
            count += 1
            if len(batch) >= SPOOL_BATCH_CHUNKS:
                pickle.dump(batch, spool)
                batch = []
        pickle.dump(batch, spool)
    estimated = estimate_accuracy_prepared(_Spooled(prepared_path, count))
    return {int(cid): (item.accuracy, scored.get(int(cid), 0)) for cid, item in estimated.items()}


async def _decide(ctx: JobContext, rows: list[Row], accuracy: dict[str, float],
                  counts: dict[int, int]) -> list[ChunkResult]:  # fmt: skip
    policy = policy_of(ctx.resources.settings)
    if len(rows) < INLINE_MAX_ROWS:
        return decide_rows(rows, accuracy, policy, counts)
    results: list[ChunkResult] = await ctx.run_cpu(decide_rows, rows, accuracy, policy, counts)
    return results


async def _recompute(
    ctx: JobContext, chunk_ids: list[int], accuracy: dict[str, float] | None
) -> tuple[list[int], dict[str, int]]:
    """Decide and store the chunks (those with too few transcriptions are left alone)."""
    db = ctx.resources.db
    settings = ctx.resources.settings
    counts = await consensus_db.counts_of(db, chunk_ids)
    ready = [
        cid for cid in chunk_ids if counts.get(cid, 0) >= settings.consensus_min_transcriptions
    ]
    rows = await consensus_db.transcriptions_of(db, ready) if ready else []
    if accuracy is None:
        stored = await consensus_db.reliability_of(db, sorted({row[2] for row in rows}))
        accuracy = {str(cid): value for cid, value in stored.items()}
    results = await _decide(ctx, rows, accuracy, counts)
    async with db.acquire() as conn, conn.transaction():
        written = await consensus_db.write_results(conn, results)
    statuses: dict[str, int] = {}
    kept = set(written)
    for result in results:
        if result.chunk_id in kept:
            statuses[result.status] = statuses.get(result.status, 0) + 1
    return written, statuses


async def calculate_for_chunks(ctx: JobContext, chunk_ids: list[int]) -> dict[str, Any]:
    """The consensus job of a few chunks, with the contributors' stored reliabilities."""
    chunk_ids = sorted(set(chunk_ids))
    # First give up the markers: a transcription committed from now on queues a new job, and
    # one committed before this line is read below.
    await crowd_db.clear_marker(ctx.resources.db, chunk_ids, ctx.job_id)
    written, statuses = await _recompute(ctx, chunk_ids, None)
    return {"chunks": len(chunk_ids), "written": len(written), "statuses": statuses}


def _spool_root(settings: Settings) -> Path:
    """Where the spools go; those left by a worker that died mid-run are removed here."""
    root = settings.home_dir / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    for folder in root.glob("consensus-*"):
        if time.time() - folder.stat().st_mtime > SPOOL_STALE_S:
            shutil.rmtree(folder, ignore_errors=True)
    return root


async def recalculate_all(ctx: JobContext) -> dict[str, Any]:
    """Re-estimate every contributor's reliability over all transcriptions, store it, then
    recompute every chunk with enough transcriptions, RECOMPUTE_BATCH_CHUNKS per transaction.

    Memory: the estimate passes over every chunk six times (EM), and a prepared chunk (its
    alignment network) takes ~2.8 KB per transcription in memory, ~2.8 GB at a million. So
    nothing holds them all: the rows stream from a cursor into a spool file (~70 B each), the
    CPU child prepares them into a second one (~350 B each, ~350 MB at a million, under
    VOICEPIPE_HOME/tmp, removed after) and every EM pass reads it back a batch at a time. The
    recompute phase holds one batch of chunks at a time. CPU: the estimate took ~0.7 ms per
    transcription on this machine (~12 min per million), the recompute a fraction of that.
    """
    db = ctx.resources.db
    settings = ctx.resources.settings
    await ctx.progress(0, None, stage="reading transcriptions")
    spool_root = _spool_root(settings)
    with tempfile.TemporaryDirectory(prefix="consensus-", dir=spool_root) as folder:
        rows_path, transcriptions = Path(folder) / "rows.pickle", 0
        with rows_path.open("wb") as spool:
            async for batch in consensus_db.stream_transcriptions(db, STREAM_BATCH_ROWS):
                pickle.dump(batch, spool)
                transcriptions += len(batch)
        await ctx.progress(0, None, stage="estimating reliability", transcriptions=transcriptions)
        reliability: dict[int, tuple[float, int]] = await ctx.run_cpu(
            estimate_spooled, rows_path, Path(folder) / "prepared.pickle"
        )
    await consensus_db.store_reliability(db, reliability)
    accuracy = {str(cid): value for cid, (value, _) in reliability.items()}
    total = await consensus_db.count_to_recompute(db, settings.consensus_min_transcriptions)
    done, written_total, statuses = 0, 0, dict.fromkeys(STATUS.values(), 0)
    after_id = 0
    await ctx.progress(0, total, stage="recomputing chunks")
    while ids := await consensus_db.chunk_ids_to_recompute(
        db, settings.consensus_min_transcriptions, after_id, RECOMPUTE_BATCH_CHUNKS
    ):
        after_id = ids[-1]
        written, counted = await _recompute(ctx, ids, accuracy)
        done += len(ids)
        written_total += len(written)
        for status, n in counted.items():
            statuses[status] += n
        await ctx.progress(done, max(total, done), stage="recomputing chunks")
    return {
        "contributors": len(reliability),
        "chunks": done,
        "written": written_total,
        "statuses": statuses,
    }
