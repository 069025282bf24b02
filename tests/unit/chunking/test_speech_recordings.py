"""Chunking real speech (espeak-ng) with known pauses: clean, short pauses, noisy, level jumps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.support.speech import ENCODINGS, SpeechFixture, encode
from voicepipe.audio import chunk_file, export_chunks, stream_mono_16k
from voicepipe.domain.chunking import ChunkingConfig, ChunkPlan


def _boundaries_in_speech(fixture: SpeechFixture, plan: ChunkPlan) -> list[float]:
    edges = [edge for c in plan.chunks for edge in (c.start_s, c.end_s)]
    return [b for b in edges if any(a < b < e for a, e in fixture.speech_spans_s)]


def _coverage(fixture: SpeechFixture, plan: ChunkPlan) -> float:
    covered = sum(
        max(0.0, min(e, c.end_s) - max(a, c.start_s))
        for a, e in fixture.speech_spans_s
        for c in plan.chunks
    )
    return covered / sum(e - a for a, e in fixture.speech_spans_s)


def test_every_scenario_is_cut_only_in_pauses(
    scenario_recordings: list[SpeechFixture], tmp_path: Path
) -> None:
    config = ChunkingConfig(min_s=1.0, max_s=6.0)  # tighter than default: more cuts to judge
    for fixture in scenario_recordings:
        plan = chunk_file(fixture.write(tmp_path / f"{fixture.name}.wav", channels=2), config)
        assert len(plan.chunks) >= 2, fixture.name
        assert _boundaries_in_speech(fixture, plan) == [], fixture.name
        assert _coverage(fixture, plan) == pytest.approx(1.0), fixture.name
        assert all(1.0 <= c.duration_s <= 6.0 for c in plan.chunks), fixture.name
        assert plan.forced_cuts == 0, fixture.name


def test_same_input_same_chunks(clean_recording: SpeechFixture, tmp_path: Path) -> None:
    path = clean_recording.write(tmp_path / "again.wav")
    assert chunk_file(path) == chunk_file(path)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_compressed_uploads_are_cut_in_pauses_too(
    clean_recording: SpeechFixture, tmp_path: Path, encoding: str
) -> None:
    path = encode(
        clean_recording.samples, clean_recording.sample_rate_hz, 2, encoding, tmp_path / "rec"
    )
    plan = chunk_file(path, ChunkingConfig(min_s=1.0, max_s=5.0))
    assert len(plan.chunks) >= 2
    assert _boundaries_in_speech(clean_recording, plan) == []


def test_export_writes_16k_mono_chunks_matching_the_plan(
    clean_recording: SpeechFixture, tmp_path: Path
) -> None:
    path = clean_recording.write(tmp_path / "rec.wav", channels=2)
    plan = chunk_file(path, ChunkingConfig(min_s=1.0, max_s=5.0))
    files = export_chunks(path, plan, tmp_path / "out", "rec")
    assert [f.name for f in files] == [f"rec_{k:04d}.flac" for k in range(1, len(plan.chunks) + 1)]
    decoded = np.concatenate(list(stream_mono_16k(path)))
    for file, c in zip(files, plan.chunks, strict=True):
        info = sf.info(file)
        assert (info.samplerate, info.channels, info.format) == (16_000, 1, "FLAC")
        samples, _ = sf.read(file, dtype="float32")
        start = round(c.start_s * 16_000)
        assert samples.size == round(c.end_s * 16_000) - start
        assert np.allclose(samples, decoded[start : start + samples.size], atol=1 / 16_000)
