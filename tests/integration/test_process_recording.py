"""process_audio_recording and batch_process_recordings through a real worker: chunks cut at
pauses and saved once however often a job runs; bad files fail once with a readable reason,
missing ones are retried; a batch tells its owner once."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

import voicepipe.tasks.audio  # noqa: F401  (registers the recording tasks)
from tests.support.engine import RunningWorker, live_events
from tests.support.speech import SpeechFixture, build_recording
from tests.support.waiting import eventually
from voicepipe.audio.storage import Storage
from voicepipe.db import processing as processing_db
from voicepipe.db import recordings as recordings_db
from voicepipe.domain.recordings import Recording
from voicepipe.engine.registry import JobContext, JobFailed, JobHandle
from voicepipe.history import monitoring
from voicepipe.history.recorder import record_pending
from voicepipe.resources import Resources, open_resources
from voicepipe.services import batches, processing
from voicepipe.services.accounts import create_user
from voicepipe.services.notifications import list_notifications
from voicepipe.settings import Settings
from voicepipe.tasks.audio import PROCESS_TASK, batch_process_recordings, process_audio_recording

QUEUES = ["audio_processing", "batch_processing"]


@pytest.fixture(scope="module")
def speech(espeak_cache: Path) -> SpeechFixture:
    return build_recording("five", espeak_cache, seed=7, n_sentences=5, pause_range_s=(0.6, 1.2))


def _wav(speech: SpeechFixture) -> bytes:
    out = io.BytesIO()
    sf.write(out, speech.samples, speech.sample_rate_hz, format="WAV", subtype="PCM_16")
    return out.getvalue()


async def _recording(
    resources: Resources, owner_id: int, data: bytes | None, ext: str = "wav", name: str = ""
) -> Recording:
    """A stored recording row; `data` None: its file is missing."""
    storage = Storage(resources.settings.storage_root)
    storage_name = Storage.new_recording_name(ext)
    if data is not None:
        path = storage.recording_path(storage_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    recording = await recordings_db.create(
        resources.db, owner_id=owner_id, title=None, original_name=name or f"talk.{ext}",
        storage_name=storage_name, content_type=None, fmt=ext, size_bytes=len(data or b""),
        sha256=hashlib.sha256((data or b"") + storage_name.encode()).hexdigest(),
    )  # fmt: skip
    assert recording is not None
    return recording


async def _chunks(resources: Resources, recording_id: int) -> list[dict[str, Any]]:
    rows = await resources.db.fetch(
        "SELECT * FROM chunks WHERE recording_id = $1 ORDER BY position", recording_id
    )
    return [dict(row) for row in rows]


async def _get(resources: Resources, recording_id: int) -> Recording:
    recording = await recordings_db.get(resources.db, recording_id)
    assert recording is not None
    return recording


async def _process(resources: Resources, recording: Recording, **kw: Any) -> JobHandle:
    return await process_audio_recording.enqueue(
        resources, recording_id=recording.id, owner_id=recording.owner_id, **kw
    )


async def _until_done(published: asyncio.Queue[dict[str, Any]], job_id: str) -> list[Any]:
    """The job's live events up to its success."""
    seen = []
    async with asyncio.timeout(30):
        while not seen or seen[-1]["event"] != "success":
            event = await published.get()
            if event["job_id"] == job_id:
                seen.append(event)
    return seen


def _folders(resources: Resources, recording_id: int) -> set[str]:
    parent = Storage(resources.settings.storage_root).recording_chunks_dir(recording_id)
    return {p.name for p in parent.iterdir()} if parent.is_dir() else set()


async def test_a_recording_is_cut_at_pauses_and_saved_once(
    resources: Resources, speech: SpeechFixture
) -> None:
    owner = await create_user(resources.db, "talker@example.org")
    recording = await _recording(resources, owner.id, _wav(speech))
    worker = RunningWorker(resources, QUEUES)
    try:
        async with live_events(resources) as published:
            first = await _process(resources, recording)
            result = await first.result(timeout_s=120)
            events = await _until_done(published, first.job_id)
        chunks = await _chunks(resources, recording.id)
        again = await (await _process(resources, recording)).result(timeout_s=60)
    finally:
        await worker.close()

    assert result["summary"] == f"processed into {len(chunks)} chunks" and len(chunks) >= 3
    assert (result["recording_id"], result["chunks"]) == (recording.id, len(chunks))
    settings = resources.settings
    storage = Storage(settings.storage_root)
    for chunk in chunks:
        assert settings.chunk_min_s - 0.01 <= chunk["end_s"] - chunk["start_s"]
        assert chunk["end_s"] - chunk["start_s"] <= settings.chunk_max_s + 0.01
        assert not chunk["forced_cut"]
        for edge_s in (chunk["start_s"], chunk["end_s"]):
            assert not speech.cuts_sound_at(edge_s), f"a cut at {edge_s:.2f} s splits speech"
        assert set(chunk["quality"]) >= {"rms_dbfs", "snr_db", "speech_ratio"}
        assert sf.info(storage.chunk_path(chunk["storage_name"])).samplerate == 16_000
    saved = await _get(resources, recording.id)
    assert (saved.status, saved.chunk_count, saved.error, saved.job_id) == (
        "processed", len(chunks), None, first.job_id
    )  # fmt: skip
    assert saved.quality is not None and saved.detector and saved.channels == 1
    assert saved.duration_s == pytest.approx(speech.duration_s, abs=0.05)
    assert saved.sample_rate_hz == speech.sample_rate_hz

    # run again: the same answer, from what is stored, with nothing redone
    assert again == result
    assert await _chunks(resources, recording.id) == chunks
    assert len(_folders(resources, recording.id)) == 1

    progress = [e["progress"] for e in events if e["event"] == "progress"]
    stages = [p["info"]["stage"] for p in progress]
    assert (progress[0]["current"], progress[0]["total"], stages[0]) == (0, 3, "analysing")
    assert (progress[-1]["current"], progress[-1]["total"]) == (3, 3)
    assert stages == sorted(stages, key=["analysing", "exporting", "saving"].index)
    await record_pending(resources)
    info = await monitoring.get_job_info(resources, first.job_id)
    assert info is not None and info.progress["info"] == {"stage": "saving", "chunks": len(chunks)}


async def test_a_rerun_after_a_crash_mid_export_starts_clean(
    resources: Resources, speech: SpeechFixture
) -> None:
    owner = await create_user(resources.db, "rerun@example.org")
    recording = await _recording(resources, owner.id, _wav(speech))
    # a first job died half way through its export: its folder holds a partial file and a
    # scratch folder, and the recording shows it processing by that (now dead) job
    storage = Storage(resources.settings.storage_root)
    leftover = storage.generation_dir(recording.id, "deadbeef-1")
    (leftover / ".partial-x").mkdir(parents=True)
    (leftover / "0001.flac").write_bytes(b"half a file")
    assert await processing_db.start(resources.db, recording.id, "deadbeef", None) is not None
    worker = RunningWorker(resources, QUEUES)
    try:
        result = await (await _process(resources, recording, job_id="rerun")).result(120)
        again = await (await _process(resources, recording, job_id="again")).result(60)
    finally:
        await worker.close()

    chunks = await _chunks(resources, recording.id)
    assert result["chunks"] == len(chunks) >= 3 and again == result
    assert [c["position"] for c in chunks] == list(range(1, len(chunks) + 1))
    assert all(c["storage_name"].startswith(f"{recording.id}/rerun-1/") for c in chunks)
    assert _folders(resources, recording.id) == {"rerun-1"}
    assert sorted(p.name for p in storage.generation_dir(recording.id, "rerun-1").iterdir()) == [
        Path(c["storage_name"]).name for c in chunks
    ]
    saved = await _get(resources, recording.id)
    assert (saved.status, saved.job_id) == ("processed", "rerun")


def _bad_files(speech: SpeechFixture) -> dict[str, bytes]:
    flac = io.BytesIO()
    sf.write(flac, speech.samples, speech.sample_rate_hz, format="FLAC")
    empty = io.BytesIO()
    sf.write(empty, np.zeros(0, np.float32), 16_000, format="WAV")
    start = int(speech.speech_spans_s[0][0] * speech.sample_rate_hz)
    half_s = speech.samples[start : start + speech.sample_rate_hz // 2]
    short = io.BytesIO()
    sf.write(short, half_s, speech.sample_rate_hz, format="WAV")
    return {
        "notes.wav": b"these are my meeting notes, not audio\n" * 20,
        "empty.wav": empty.getvalue(),
        "cut.flac": flac.getvalue()[: len(flac.getvalue()) // 2],
        "blip.wav": short.getvalue(),
    }


async def test_unusable_files_fail_once_with_a_readable_reason(
    resources: Resources, speech: SpeechFixture
) -> None:
    owner = await create_user(resources.db, "bad@example.org")
    recordings = [
        await _recording(resources, owner.id, data, name.rsplit(".")[1], name)
        for name, data in _bad_files(speech).items()
    ]
    worker = RunningWorker(resources, QUEUES)
    try:
        handles = [await _process(resources, r) for r in recordings]
        for handle in handles:
            with pytest.raises(JobFailed):
                await handle.result(timeout_s=60)
        await record_pending(resources)
    finally:
        await worker.close()

    reasons = {}
    for recording, handle in zip(recordings, handles, strict=True):
        failed = await _get(resources, recording.id)
        info = await monitoring.get_job_info(resources, handle.job_id)
        assert info is not None and (info.status, info.retry_count) == ("failure", 0)
        assert (failed.status, failed.error_kind) == ("failed", "permanent")
        assert failed.error is not None and failed.error.startswith(recording.original_name)
        assert recording.storage_name not in failed.error
        assert info.error is not None and info.error.endswith(failed.error)
        assert _folders(resources, recording.id) == set()
        reasons[recording.original_name] = failed.error
    assert "not an audio" in reasons["notes.wav"]
    assert "no audio samples" in reasons["empty.wav"]
    assert "damaged" in reasons["cut.flac"] or "interrupted" in reasons["cut.flac"]
    assert "0.5 s long" in reasons["blip.wav"]


@pytest.fixture
async def slow_retries(settings: Settings) -> Any:
    # retries a few seconds apart: the test puts the missing file back between two tries
    async with open_resources(settings.model_copy(update={"job_retry_delay_s": 2.0})) as opened:
        yield opened


async def test_a_missing_file_is_retried(slow_retries: Resources, speech: SpeechFixture) -> None:
    resources = slow_retries
    owner = await create_user(resources.db, "missing@example.org")
    lost = await _recording(resources, owner.id, None, name="lost.wav")
    late = await _recording(resources, owner.id, None, name="late.wav")
    worker = RunningWorker(resources, QUEUES)
    try:
        lost_job = await _process(resources, lost)
        late_job = await _process(resources, late)

        async def first_try_failed() -> Recording | None:
            seen = await _get(resources, late.id)
            return seen if seen.error_kind == "transient" else None

        waiting = await eventually(first_try_failed, timeout_s=30, what="the first try to fail")
        path = Storage(resources.settings.storage_root).recording_path(late.storage_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_wav(speech))
        result = await late_job.result(timeout_s=120)
        with pytest.raises(JobFailed, match=r"TransientAudioError: lost\.wav: file not found"):
            await lost_job.result(timeout_s=120)
        await record_pending(resources)
    finally:
        await worker.close()

    assert (waiting.status, waiting.error_kind) == ("processing", "transient")
    assert waiting.error == "late.wav: file not found"
    assert result["chunks"] >= 3 and (await _get(resources, late.id)).status == "processed"
    late_info = await monitoring.get_job_info(resources, late_job.job_id)
    assert late_info is not None and late_info.retry_count >= 1
    gave_up = await _get(resources, lost.id)
    assert (gave_up.status, gave_up.error_kind, gave_up.error) == (
        "failed", "transient", "lost.wav: file not found"
    )  # fmt: skip
    lost_info = await monitoring.get_job_info(resources, lost_job.job_id)
    assert lost_info is not None and (lost_info.status, lost_info.retry_count) == ("failure", 2)


async def test_a_deleted_recording_ends_its_job_quietly(resources: Resources) -> None:
    owner = await create_user(resources.db, "gone@example.org")
    recording = await _recording(resources, owner.id, b"RIFF")
    await resources.db.execute("DELETE FROM recordings WHERE id = $1", recording.id)
    worker = RunningWorker(resources, QUEUES)
    try:
        result = await (await _process(resources, recording)).result(timeout_s=30)
    finally:
        await worker.close()
    assert result["chunks"] == 0 and "no longer exists" in result["summary"]
    assert _folders(resources, recording.id) == set()


async def test_a_recording_deleted_while_it_is_processed_leaves_nothing(
    resources: Resources, speech: SpeechFixture
) -> None:
    """The row goes between export and save (as DELETE /api/recordings/{id} may do it): the
    job ends without error and without files; run in this process, stage by stage."""
    owner = await create_user(resources.db, "deleter@example.org")
    recording = await _recording(resources, owner.id, _wav(speech))
    stages: list[str] = []

    async def progress(current: float, total: float | None, info: dict[str, Any]) -> None:
        stages.append(info["stage"])
        if info["stage"] == "saving":
            await resources.db.execute("DELETE FROM recordings WHERE id = $1", recording.id)

    async def run_cpu(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    ctx = JobContext(
        job_id="inline", task_name=PROCESS_TASK, queue="audio_processing", try_number=1,
        max_retries=2, priority=0, worker_id="test", resources=resources,
        _progress=progress, _run_cpu=run_cpu,
    )  # fmt: skip
    result = await processing.process_recording(ctx, recording.id)

    assert stages == ["analysing", "exporting", "saving"]
    assert "deleted while it was processed" in result["summary"] and result["chunks"] == 0
    assert _folders(resources, recording.id) == set()
    assert await resources.db.fetchval("SELECT count(*) FROM chunks") == 0


async def test_a_batch_processes_each_recording_and_tells_once(
    resources: Resources, speech: SpeechFixture
) -> None:
    owner = await create_user(resources.db, "batch@example.org")
    good = [await _recording(resources, owner.id, _wav(speech)) for _ in range(2)]
    bad = await _recording(resources, owner.id, b"not audio at all" * 10, name="junk.wav")
    ids = [good[0].id, bad.id, good[1].id]
    worker = RunningWorker(resources, QUEUES)
    try:
        handle = await batch_process_recordings.enqueue(
            resources, recording_ids=ids, owner_id=owner.id
        )
        queued = await handle.result(timeout_s=30)

        async def told() -> list[Any]:
            return (await list_notifications(resources, owner.id)).items

        (notification,) = await eventually(told, timeout_s=120, what="the batch's notification")
        await record_pending(resources)
        # the batch job run again (after a crash, say) queues nothing twice
        rerun = await batch_process_recordings.enqueue(
            resources, recording_ids=ids, batch=queued["batch_id"]
        )
        requeued = await rerun.result(timeout_s=30)
    finally:
        await worker.close()

    assert set(queued["job_ids"]) == {str(i) for i in ids}
    assert queued["enqueued"] == 3 and requeued["enqueued"] == 0
    assert requeued["job_ids"] == queued["job_ids"]
    summary = await batches.get_batch(resources, queued["batch_id"])
    assert (summary.total, summary.succeeded, summary.failed) == (3, 2, 1)
    assert summary.owner_id == owner.id and summary.closed_at is not None
    assert notification.message == "2 of 3 jobs succeeded, 1 failed"
    assert [n.id for n in await told()] == [notification.id]  # no job told on its own
    for recording in good:
        assert (await _get(resources, recording.id)).status == "processed"
    failed = await _get(resources, bad.id)
    assert failed.status == "failed" and failed.job_id == queued["job_ids"][str(bad.id)]
