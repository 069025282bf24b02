"""The event recorder: folds the lifecycle event stream into PostgreSQL, acknowledging after commit.

Every worker process runs one, as a consumer of the `recorders` group on the event stream. A batch
is read, folded into one change per job (domain.job_fold), written in one transaction, and only
then acknowledged; entries that stay unacknowledged (PostgreSQL down, a recorder killed) stay in
the stream and are read again by this consumer or, once idle long enough, claimed by another.
Folding is idempotent and order-independent, so an entry recorded twice or late does no harm.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from redis.exceptions import ResponseError

from voicepipe import keys
from voicepipe.db import jobs as jobs_db
from voicepipe.domain.job_fold import (
    EVENTS_PER_ENTRY,
    StreamId,
    event_position,
    fold,
    is_event,
    parse_stream_id,
)
from voicepipe.engine import events
from voicepipe.engine.outage import Backoff
from voicepipe.resources import Resources

log = logging.getLogger(__name__)

BLOCK_MS = 1000
TRIM_INTERVAL_S = 1.0
RETRY_MIN_S = 0.05
RETRY_MAX_S = 5.0
TAKE_OVER_IDLE_MS = 500
COMMIT_ATTEMPTS = 5  # a transaction PostgreSQL rolled back (deadlock) is run this often at most
# Errors that one bad event can cause; retrying the same batch would fail forever.
DATA_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)

Entry = tuple[bytes, dict[bytes, bytes]]
# (job id, task, "success" | "failure") of each job that finished in a recorded batch
OnFinished = Callable[[list[tuple[str, str, str]]], Awaitable[None]]
FINISHED = frozenset({"success", "failure"})
Decoded = list[tuple[StreamId, dict[str, Any], str]]  # position, event, its JSON as written


class Recorder:
    """One consumer of the event stream that records into PostgreSQL."""

    def __init__(
        self,
        resources: Resources,
        consumer: str,
        batch_size: int | None = None,
        claim_idle_s: float | None = None,
        on_finished: OnFinished | None = None,
    ) -> None:
        settings = resources.settings
        self.on_finished = on_finished
        self.resources = resources
        self.consumer = consumer
        self.batch_size = batch_size or settings.recorder_batch_size
        idle_s = settings.recorder_claim_idle_s if claim_idle_s is None else claim_idle_s
        self.claim_idle_ms = int(idle_s * 1000)
        self.recorded = 0  # stream entries recorded (and acknowledged) by this consumer
        self._own_pending_first = True  # after a start or a failure, our unacked entries come first
        self._untrimmed = False
        self._trimmed_at = 0.0

    async def ensure_group(self) -> None:
        try:
            await self.resources.redis.xgroup_create(
                keys.EVENTS, keys.RECORDERS, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _in_group(self, command: Callable[[], Awaitable[Any]]) -> Any:
        """Run a group command, creating the group first if it (or the stream) does not exist."""
        try:
            return await command()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
        await self.ensure_group()
        return await command()

    async def drain_once(self, block_ms: int | None = None) -> int:
        """Read one batch, record it, trim the stream now and then; returns the batch's size."""
        entries = await self.read_batch(block_ms)
        if entries:
            await self.record(entries)
        if self._untrimmed and (
            not entries or time.monotonic() - self._trimmed_at >= TRIM_INTERVAL_S
        ):
            await self.trim()
        return len(entries)

    async def claim_stale(self) -> int:
        """Take over entries another consumer read but left unacknowledged too long, and record them."""
        start: bytes | str = "0-0"
        claimed = 0
        while True:
            next_start, entries, *_ = await self._in_group(
                functools.partial(
                    self.resources.redis.xautoclaim, keys.EVENTS, keys.RECORDERS, self.consumer,
                    self.claim_idle_ms, start, count=self.batch_size,
                )
            )  # fmt: skip
            if entries:
                log.info("recorder %s claimed %d stale events", self.consumer, len(entries))
                await self.record(entries)
                claimed += len(entries)
            if next_start in (b"0-0", "0-0"):
                return claimed
            start = next_start

    async def take_over(self, consumer: str) -> int:
        """Record what `consumer` (a lost worker's recorder) read but never acknowledged, now rather
        than after the claim idle time; returns entries recorded."""
        redis = self.resources.redis
        taken = 0
        while True:
            pending = await redis.xpending_range(
                keys.EVENTS, keys.RECORDERS, min="-", max="+", count=self.batch_size,
                consumername=consumer,
            )  # fmt: skip
            ids = [p["message_id"] for p in pending]
            # A minimum idle time: of two recorders taking over at once, only one gets each entry.
            entries = await redis.xclaim(
                keys.EVENTS, keys.RECORDERS, self.consumer, TAKE_OVER_IDLE_MS, ids
            ) if ids else []  # fmt: skip
            if not entries:
                if not ids:
                    await redis.xgroup_delconsumer(keys.EVENTS, keys.RECORDERS, consumer)
                return taken
            try:
                await self.record(entries)
            except Exception:
                self._own_pending_first = True  # they are ours now: read them again first
                raise
            taken += len(entries)

    async def trim(self) -> None:
        """Drop entries every group has acknowledged: below the oldest pending or undelivered one."""
        redis = self.resources.redis
        floor: StreamId | None = None
        for group in await redis.xinfo_groups(keys.EVENTS):
            delivered = parse_stream_id(group["last-delivered-id"])
            candidate = (delivered[0], delivered[1] + 1)
            if group["pending"]:
                oldest = (await redis.xpending(keys.EVENTS, group["name"]))["min"]
                if oldest is not None:
                    candidate = min(candidate, parse_stream_id(oldest))
            floor = candidate if floor is None else min(floor, candidate)
        if floor is not None:
            await redis.xtrim(keys.EVENTS, minid=f"{floor[0]}-{floor[1]}", approximate=False)
        self._untrimmed = False
        self._trimmed_at = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        """Record until `stop` is set; failures (PostgreSQL or Redis down) back off and retry.

        It records while its worker runs jobs, never stepping aside for them: PostgreSQL commits a
        batch on another core meanwhile, so jobs are recorded soonest that way (stepping aside
        during bursts made bursts faster and history, counted as part of the work, 40 % slower).
        """
        claim_every_s = max(self.claim_idle_ms / 2000, 1.0)
        next_claim = time.monotonic()
        trouble = Backoff(f"recorder {self.consumer}", RETRY_MIN_S, RETRY_MAX_S, log)
        while not stop.is_set():
            try:
                if time.monotonic() >= next_claim:
                    await self.claim_stale()
                    next_claim = time.monotonic() + claim_every_s
                await self.drain_once(block_ms=BLOCK_MS)
                trouble.succeeded()
            except Exception as exc:  # a dependency down for a while: the stream keeps the events
                self._own_pending_first = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), trouble.failed(exc))

    async def flush(self, timeout_s: float = 5.0) -> int:
        """Record what is in the stream now, without waiting for more; returns entries recorded."""
        deadline = time.monotonic() + timeout_s
        before = self.recorded
        # No ensure_group here: reading creates the group if it is missing, and creating one is
        # a write Redis refuses when it is out of memory, even for a group that exists.
        while time.monotonic() < deadline and await self.drain_once():
            pass
        return self.recorded - before

    async def read_batch(self, block_ms: int | None = None) -> list[Entry]:
        """The next batch for this consumer: its own unacknowledged entries first, then new ones."""
        entries = await self._read("0" if self._own_pending_first else ">", block_ms)
        if not entries and self._own_pending_first:
            self._own_pending_first = False
            entries = await self._read(">", block_ms)
        return entries

    async def _read(self, stream_id: str, block_ms: int | None) -> list[Entry]:
        reply = await self._in_group(
            lambda: self.resources.redis.xreadgroup(
                keys.RECORDERS, self.consumer, {keys.EVENTS: stream_id}, count=self.batch_size,
                block=block_ms,
            )
        )  # fmt: skip
        return reply[0][1] if reply else []

    async def record(self, entries: list[Entry]) -> None:
        """Fold and commit `entries` (batch_size events per transaction at most), then acknowledge
        them; raises (nothing acked) if PostgreSQL fails."""
        decoded = _decode(entries)
        for start in range(0, len(decoded), self.batch_size):
            batch = decoded[start : start + self.batch_size]
            try:
                await self._commit(batch)
            except DATA_ERRORS as exc:
                log.error("recorder %s: a batch was refused (%s); recording it job by job",
                          self.consumer, exc)  # fmt: skip
                await self._commit_job_by_job(batch)
        finished = [(e["job_id"], e["task"], e["event"]) for _, e, _ in decoded
                    if e["event"] in FINISHED]  # fmt: skip
        if finished and self.on_finished is not None:
            # before the acknowledgement: should it fail, the batch is recorded again (the fold is
            # idempotent) and the hook runs again, so what it does must be idempotent too
            await self.on_finished(finished)
        await self.resources.redis.xack(
            keys.EVENTS, keys.RECORDERS, *(entry_id for entry_id, _ in entries)
        )
        self.recorded += len(entries)
        self._untrimmed = True

    async def _commit(self, decoded: Decoded) -> None:
        deltas = fold([(stream_id, event) for stream_id, event, _ in decoded])
        timeline = [
            (stream_id, raw) for stream_id, event, raw in decoded if event["event"] != "progress"
        ]
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                async with self.resources.db.acquire() as conn, conn.transaction():
                    await jobs_db.upsert_jobs(conn, deltas)
                    await jobs_db.insert_events(conn, timeline)
                return
            except asyncpg.TransactionRollbackError as exc:
                # Two recorders can deadlock on the rollup rows their triggers update; PostgreSQL
                # rolls one back, and running it again is safe: the fold is idempotent.
                if attempt == COMMIT_ATTEMPTS:
                    raise
                log.info("recorder %s: %s; committing again", self.consumer, exc)
                await asyncio.sleep(random.uniform(0, RETRY_MIN_S * attempt))

    async def _commit_job_by_job(self, decoded: Decoded) -> None:
        """Record each job on its own, so one unrecordable event loses only its own job's update."""
        by_job: dict[str, Decoded] = {}
        for stream_id, event, raw in decoded:
            by_job.setdefault(event["job_id"], []).append((stream_id, event, raw))
        for job_id, its_events in by_job.items():
            try:
                await self._commit(its_events)
            except DATA_ERRORS as exc:
                log.error(
                    "recorder %s: dropped %d events of job %s: %s",
                    self.consumer,
                    len(its_events),
                    job_id,
                    exc,
                )


def _decode(entries: list[Entry]) -> Decoded:
    decoded: Decoded = []
    for entry_id, fields in entries:
        data = fields.get(b"e") if fields else None
        if data is None:
            continue  # deleted from the stream meanwhile: nothing to record
        stream_id = parse_stream_id(entry_id)
        lines = events.split(data)
        if len(lines) > EVENTS_PER_ENTRY:
            log.error("recorder: skipped all but the first %d of %d events in entry %r",
                      EVENTS_PER_ENTRY, len(lines), entry_id)  # fmt: skip
        for index, raw in enumerate(lines[:EVENTS_PER_ENTRY]):
            try:
                event = json.loads(raw)
            except ValueError:
                event = None
            if not is_event(event):
                log.error("recorder: skipped malformed event %r: %r", entry_id, raw[:200])
                continue
            decoded.append((event_position(stream_id, index), event, raw))
    return decoded


async def record_pending(
    resources: Resources,
    consumer: str = "flush",
    claim_idle_s: float = 0.0,
    timeout_s: float = 30.0,
) -> int:
    """Record everything in the stream now, including entries other consumers left unacknowledged
    for `claim_idle_s` (a benchmark's or a test's last step); returns entries recorded."""
    recorder = Recorder(resources, consumer, claim_idle_s=claim_idle_s)
    await recorder.ensure_group()
    claimed = await recorder.claim_stale()
    return claimed + await recorder.flush(timeout_s)
