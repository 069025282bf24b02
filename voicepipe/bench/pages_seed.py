"""What the page bench adds besides the job rows: live worker heartbeats, an admin's inbox and a
few processed recordings, each written through the functions the real system writes them with."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from voicepipe import __version__
from voicepipe.bench.api_rows import ERRORS
from voicepipe.db import processing
from voicepipe.db import recordings as recordings_db
from voicepipe.domain.notifications import Level
from voicepipe.domain.quality import AudioQuality
from voicepipe.engine import heartbeats
from voicepipe.resources import Resources
from voicepipe.services.notifications import inbox
from voicepipe.services.notifications.send import send_notification

WORKERS = 100
NOTIFICATIONS = 300
# chunk counts of the recordings: short takes up to a one-hour session cut every ~8 s
RECORDING_CHUNKS = (0, 0, 12, 25, 40, 60, 90, 120, 200, 450)
QUEUE_SETS = (["audio_processing"], ["consensus"], ["default", "maintenance"],
              ["batch_processing", "audio_processing"], ["consensus", "default"])  # fmt: skip
_QUALITY = AudioQuality(
    rms_dbfs=-24.0, speech_dbfs=-20.0, peak_dbfs=-3.0, clipping_ratio=0.0, snr_db=28.0,
    speech_ratio=0.7, spectral_flatness=0.2,
)  # fmt: skip


def worker_records(running_ids: list[str], now_s: float) -> dict[str, dict[str, Any]]:
    """The heartbeat records of WORKERS workers, with the fields voicepipe.worker.runner beats."""
    rng = random.Random(3)
    host = socket.gethostname()
    records = {}
    for k in range(WORKERS):
        worker_id = f"bench-host-{k // 10}:{10_000 + k}:{uuid.UUID(int=k).hex[-6:]}"
        concurrency = rng.choice((4, 8, 16))
        running = (
            [rng.choice(running_ids) for _ in range(rng.randint(0, concurrency))]
            if running_ids
            else []
        )
        records[worker_id] = {
            "id": worker_id, "host": f"{host}-bench-{k // 10}", "pid": 10_000 + k,
            "queues": QUEUE_SETS[k % len(QUEUE_SETS)], "concurrency": concurrency,
            "running": running, "processed": rng.randint(0, 200_000),
            "failed": rng.randint(0, 9_000), "retried": rng.randint(0, 3_000),
            "cancelled": rng.randint(0, 500),
            "memory_rss_bytes": rng.randint(90, 400) * 2**20, "version": __version__,
            "started_at": now_s - rng.uniform(60, 7 * 86_400), "restarts": rng.randint(0, 3),
            "last_exit": None,
        }  # fmt: skip
    return records


@contextlib.asynccontextmanager
async def beating_workers(resources: Resources, running_ids: list[str]) -> AsyncIterator[int]:
    """WORKERS heartbeats kept alive while the block runs; removed after it.

    A worker counts as live while its zset score is younger than HEARTBEAT_TTL_S, so a long key
    expiry alone would not keep it listed: like real workers, these beat every interval."""
    records = worker_records(running_ids, time.time())

    async def beat_all() -> None:
        await asyncio.gather(
            *(heartbeats.write_heartbeat(resources.redis, wid, r) for wid, r in records.items())
        )

    async def keep_beating() -> None:
        while True:
            await asyncio.sleep(heartbeats.HEARTBEAT_INTERVAL_S)
            await beat_all()

    await beat_all()
    beater = asyncio.create_task(keep_beating(), name="bench-heartbeats")
    try:
        yield len(records)
    finally:
        beater.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beater
        for worker_id in records:
            await heartbeats.remove_heartbeat(resources.redis, worker_id)


async def fill_inbox(resources: Resources, admin_id: int, job_ids: list[str]) -> int:
    """NOTIFICATIONS notifications to the admin (inbox only: nobody listens), two thirds read."""
    levels: tuple[Level, ...] = ("error", "warning", "success", "info")
    sent = []
    for k in range(NOTIFICATIONS):
        job_id = job_ids[k % len(job_ids)] if job_ids else None
        level = levels[k % len(levels)]
        message = ERRORS[k % len(ERRORS)] if level == "error" else "finished as asked"
        sent += await send_notification(
            resources, f"Job {(job_id or '?')[:12]} {level}", message, level,
            channels=("database",), recipient_id=admin_id, job_id=job_id,
        )  # fmt: skip
    for notification in sent[: len(sent) * 2 // 3]:
        assert notification.id is not None  # a stored one
        await inbox.mark_read(resources, admin_id, notification.id)
    return len(sent)


async def add_recordings(resources: Resources, owner_id: int) -> list[tuple[int, int]]:
    """One recording per RECORDING_CHUNKS entry: processed with that many chunks, the first of
    no chunks left uploaded, the second failed. Returns (id, chunk count) of each."""
    made = []
    async with resources.db.acquire() as conn:
        for k, count in enumerate(RECORDING_CHUNKS):
            digest = hashlib.sha256(f"bench-{time.time_ns()}-{k}".encode()).hexdigest()
            recording = await recordings_db.create(
                conn, owner_id=owner_id, title=f"Bench session {k + 1}",
                original_name=f"session-{k + 1}.flac", storage_name=f"bench-{digest[:24]}.flac",
                content_type="audio/flac", fmt="flac", size_bytes=(count + 1) * 260_000,
                sha256=digest,
            )  # fmt: skip
            assert recording is not None  # a fresh digest
            if k == 1:
                await processing.record_failure(conn, recording.id, ERRORS[1], "permanent", True)
            elif count:
                await _process(conn, recording.id, count, digest)
            made.append((recording.id, count))
    return made


async def _process(conn: asyncpg.Connection, recording_id: int, count: int, digest: str) -> None:
    chunks = [
        processing.NewChunk(
            position=i, start_s=i * 8.0, end_s=i * 8.0 + 7.6, forced_cut=i % 9 == 8,
            storage_name=f"bench-{digest[:24]}-{i:04d}.flac", quality=_QUALITY,
        )
        for i in range(count)
    ]  # fmt: skip
    audio = processing.ProcessedAudio(
        duration_s=count * 8.0, sample_rate_hz=16_000, channels=1, detector="energy",
        quality=_QUALITY, quality_flags=[],
    )  # fmt: skip
    await processing.save_chunks(conn, recording_id, chunks, audio)
