"""The recordings' cron jobs, run as jobs by a real worker: orphaned audio cleaned up (never what
a live job writes, never a young file), transient failures queued again a bounded number of times."""

from __future__ import annotations

import os
import time
from pathlib import Path

import voicepipe.tasks.audio  # noqa: F401  (registers process_audio_recording)
from tests.support.engine import RunningWorker
from voicepipe.audio.storage import Storage
from voicepipe.db import processing as processing_db
from voicepipe.db import recordings as recordings_db
from voicepipe.domain.jobs import JobStatus
from voicepipe.domain.quality import AudioQuality
from voicepipe.domain.recordings import Recording
from voicepipe.engine.registry import Task
from voicepipe.history import monitoring
from voicepipe.history.recorder import record_pending
from voicepipe.resources import Resources
from voicepipe.services.accounts import create_user
from voicepipe.tasks.audio import process_audio_recording
from voicepipe.tasks.voice_maintenance import cleanup_orphaned_chunks, reprocess_failed_recordings

HOUR_S = 3600.0
QUALITY = AudioQuality(
    rms_dbfs=-24.0, speech_dbfs=-20.0, peak_dbfs=-3.0, clipping_ratio=0.0, snr_db=30.0,
    speech_ratio=0.6, spectral_flatness=0.1,
)  # fmt: skip


async def _recording(resources: Resources, owner_id: int) -> Recording:
    storage = Storage(resources.settings.storage_root)
    name = Storage.new_recording_name("wav")
    path = storage.recording_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF....WAVE")
    recording = await recordings_db.create(
        resources.db, owner_id=owner_id, title=None, original_name="talk.wav", storage_name=name,
        content_type=None, fmt="wav", size_bytes=12, sha256=name,
    )  # fmt: skip
    assert recording is not None
    return recording


def _file(path: Path, age_s: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"fLaC")
    return _age(path, age_s)


def _age(path: Path, age_s: float) -> Path:
    """Make `path` and everything under it `age_s` old (folders last: writing touches them)."""
    at = time.time() - age_s
    inside = (
        sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True) if path.is_dir() else []
    )
    for p in [*inside, path]:
        os.utime(p, (at, at))
    return path


async def _run(resources: Resources, task: Task) -> dict[str, int]:
    worker = RunningWorker(resources, ["maintenance"])
    try:
        result: dict[str, int] = await (await task.enqueue(resources)).result(timeout_s=30)
    finally:
        await worker.close()
    return result


async def test_cleanup_removes_orphans_but_nothing_live_or_young(resources: Resources) -> None:
    storage = Storage(resources.settings.storage_root)
    owner = await create_user(resources.db, "owner@example.org")
    # a processed recording with three chunk rows, of which the second lost its file
    done = await _recording(resources, owner.id)
    names = [Storage.chunk_name(done.id, "gen1", f"{k:04d}.flac") for k in (1, 2, 3)]
    chunks = [
        processing_db.NewChunk(k, k * 2.0, k * 2.0 + 1.5, name, False, QUALITY)
        for k, name in enumerate(names, start=1)
    ]
    audio = processing_db.ProcessedAudio(8.0, 16_000, 1, "energy", QUALITY, [])
    async with resources.db.acquire() as conn:
        assert await processing_db.save_chunks(conn, done.id, chunks, audio) is not None
    for name in (names[0], names[2]):
        _file(storage.chunk_path(name), 2 * HOUR_S)
    stray = _file(storage.generation_dir(done.id, "gen1") / "0009.flac", 2 * HOUR_S)
    young = _file(storage.generation_dir(done.id, "gen1") / "0010.flac")
    earlier_run = storage.generation_dir(done.id, "oldgen")
    _file(earlier_run / "0001.flac")
    _file(earlier_run / ".partial-x" / "chunk_0001.flac")
    _age(earlier_run, 2 * HOUR_S)
    # a recording being processed by a job still queued: its folder is the job's
    live = await _recording(resources, owner.id)
    job = await process_audio_recording.enqueue(resources, recording_id=live.id)
    assert await processing_db.start(resources.db, live.id, job.job_id, None) is not None
    live_file = _file(storage.generation_dir(live.id, "gen-live") / "0001.flac", 2 * HOUR_S)
    _age(live_file.parent, 2 * HOUR_S)
    # the chunks of a recording deleted long ago
    deleted = _file(storage.generation_dir(987654, "gen") / "0001.flac", 2 * HOUR_S)
    _age(deleted.parent, 2 * HOUR_S)
    # recording files and upload temp files
    _age(storage.recording_path(done.storage_name), 2 * HOUR_S)
    no_row = _file(storage.recording_path(Storage.new_recording_name("mp3")), 2 * HOUR_S)
    just_kept = _file(storage.recording_path(Storage.new_recording_name("mp3")))
    stale_upload = _file(storage.new_upload_path(), 25 * HOUR_S)
    recent_upload = _file(storage.new_upload_path(), 2 * HOUR_S)

    report = await _run(resources, cleanup_orphaned_chunks)

    assert report == {
        "upload_temp_files": 1, "recording_files": 1, "chunk_files": 4, "chunk_rows": 1,
        "skipped_live_recordings": 1,
    }  # fmt: skip
    assert not stray.exists() and young.exists() and not earlier_run.exists()
    assert live_file.exists() and not deleted.parent.parent.exists()
    assert storage.recording_path(done.storage_name).exists()
    assert not no_row.exists() and just_kept.exists()
    assert not stale_upload.exists() and recent_upload.exists()
    rows = await resources.db.fetch(
        "SELECT storage_name FROM chunks WHERE recording_id = $1 ORDER BY position", done.id
    )
    assert [row["storage_name"] for row in rows] == [names[0], names[2]]
    after = await recordings_db.get(resources.db, done.id)
    assert after is not None and after.chunk_count == 2
    assert await job.status() == JobStatus.PENDING  # the live job was not touched either

    again = await _run(resources, cleanup_orphaned_chunks)
    assert sum(again.values()) == 1 and again["skipped_live_recordings"] == 1


async def test_reprocessing_queues_transient_failures_a_bounded_number_of_times(
    resources: Resources,
) -> None:
    owner = await create_user(resources.db, "owner@example.org")
    db = resources.db
    transient = await _recording(resources, owner.id)
    exhausted = await _recording(resources, owner.id)
    corrupt = await _recording(resources, owner.id)
    for recording in (transient, exhausted):
        await processing_db.record_failure(
            db, recording.id, "talk.wav: I/O error", "transient", True
        )
    await db.execute("UPDATE recordings SET reprocess_count = 3 WHERE id = $1", exhausted.id)
    await processing_db.record_failure(db, corrupt.id, "talk.wav: not audio", "permanent", True)
    assert resources.settings.reprocess_max_attempts == 3

    assert await _run(resources, reprocess_failed_recordings) == {
        "requeued": 1,
        "exhausted": 1,
        "abandoned": 0,
    }
    queued = await recordings_db.get(db, transient.id)
    assert queued is not None
    assert (queued.status, queued.reprocess_count, queued.job_id) == (
        "uploaded", 1, f"reprocess-{transient.id}-1"
    )  # fmt: skip
    await record_pending(resources)
    info = await monitoring.get_job_info(resources, f"reprocess-{transient.id}-1")
    assert info is not None and info.status == "pending" and info.owner_id == owner.id
    assert info.args == {"recording_id": transient.id}
    for recording, count in ((exhausted, 3), (corrupt, 0)):
        unchanged = await recordings_db.get(db, recording.id)
        assert unchanged is not None
        assert (unchanged.status, unchanged.reprocess_count) == ("failed", count)

    # queued and not failed again: nothing to do
    assert await _run(resources, reprocess_failed_recordings) == {
        "requeued": 0,
        "exhausted": 1,
        "abandoned": 0,
    }

    # failed again: queued once more, as a new job
    await processing_db.record_failure(db, transient.id, "talk.wav: I/O error", "transient", True)
    assert await _run(resources, reprocess_failed_recordings) == {
        "requeued": 1,
        "exhausted": 1,
        "abandoned": 0,
    }
    second = await recordings_db.get(db, transient.id)
    assert second is not None and second.job_id == f"reprocess-{transient.id}-2"

    # a run that crashed after queueing its job: the job is not queued twice, the try counted
    await processing_db.record_failure(db, transient.id, "talk.wav: I/O error", "transient", True)
    await process_audio_recording.enqueue(
        resources, recording_id=transient.id, job_id=f"reprocess-{transient.id}-3"
    )
    assert await _run(resources, reprocess_failed_recordings) == {
        "requeued": 0,
        "exhausted": 2,
        "abandoned": 0,
    }
    last = await recordings_db.get(db, transient.id)
    assert last is not None and (last.status, last.reprocess_count) == ("failed", 3)


async def test_cleanup_keeps_rows_when_every_chunk_file_is_missing(resources: Resources) -> None:
    """All files gone at once is storage not mounted: the rows (and transcriptions) stay."""
    owner = await create_user(resources.db, "owner@example.org")
    recording = await _recording(resources, owner.id)
    chunks = [
        processing_db.NewChunk(
            k, k * 2.0, k * 2.0 + 1.5, Storage.chunk_name(recording.id, "g", f"{k:04d}.flac"),
            False, QUALITY,
        )
        for k in range(1, 31)
    ]  # fmt: skip
    audio = processing_db.ProcessedAudio(62.0, 16_000, 1, "energy", QUALITY, [])
    async with resources.db.acquire() as conn:
        assert await processing_db.save_chunks(conn, recording.id, chunks, audio) is not None

    report = await _run(resources, cleanup_orphaned_chunks)

    assert report["chunk_rows"] == 0
    assert await resources.db.fetchval("SELECT count(*) FROM chunks") == len(chunks)


async def test_a_recording_left_processing_by_a_dead_job_is_failed(resources: Resources) -> None:
    owner = await create_user(resources.db, "owner@example.org")
    db = resources.db
    orphaned = await _recording(resources, owner.id)
    waiting = await _recording(resources, owner.id)
    assert await processing_db.start(db, orphaned.id, "terminated-job", None) is not None
    job = await process_audio_recording.enqueue(resources, recording_id=waiting.id)
    assert await processing_db.start(db, waiting.id, job.job_id, None) is not None
    await db.execute("UPDATE recordings SET updated_at = now() - interval '2 hours'")

    report = await _run(resources, reprocess_failed_recordings)

    assert report == {"requeued": 0, "exhausted": 0, "abandoned": 1}
    failed = await recordings_db.get(db, orphaned.id)
    assert failed is not None and (failed.status, failed.error_kind) == ("failed", None)
    assert failed.error is not None and "job terminated-job ended without finishing" in failed.error
    still = await recordings_db.get(db, waiting.id)
    assert still is not None and still.status == "processing"  # its job is queued: it will tell
