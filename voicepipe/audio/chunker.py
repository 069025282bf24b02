"""Chunk an audio file: stream-decode, detect speech, plan cuts (the job's and CLI's entry)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicepipe.audio.decode import FloatArray, stream_mono_16k
from voicepipe.audio.errors import SilentAudioError
from voicepipe.domain.chunking import (
    SAMPLE_RATE_HZ,
    ChunkingConfig,
    ChunkPlan,
    EnergyDetector,
    FrameStream,
    SpeechDetector,
    plan_chunks,
)

ProgressCallback = Callable[[float], None]  # called with seconds of audio decoded so far


@dataclass(frozen=True)
class Analysis:
    """Per-frame detector features of a whole recording (small: a few floats per 10 ms)."""

    features: FloatArray
    duration_s: float


def analyse_file(
    path: Path, detector: SpeechDetector, on_progress: ProgressCallback | None = None
) -> Analysis:
    """Decode the file block by block, keeping only the detector's per-frame features."""
    frames = FrameStream()
    parts: list[FloatArray] = []
    for block in stream_mono_16k(path):
        parts.append(detector.frame_features(frames.push(block)))
        if on_progress is not None:
            on_progress(frames.samples_seen / SAMPLE_RATE_HZ)
    parts.append(detector.frame_features(frames.finish()))
    features = np.concatenate(parts, axis=0)
    return Analysis(features=features, duration_s=frames.samples_seen / SAMPLE_RATE_HZ)


def chunk_file(
    path: Path,
    config: ChunkingConfig | None = None,
    detector: SpeechDetector | None = None,
    on_progress: ProgressCallback | None = None,
) -> ChunkPlan:
    """Where to cut the recording at `path`; SilentAudioError if it holds no speech."""
    config = config or ChunkingConfig()
    detector = detector or EnergyDetector()
    analysis = analyse_file(path, detector, on_progress)
    speech = detector.speech_mask(analysis.features)
    plan = plan_chunks(speech, analysis.features[:, 0], analysis.duration_s, config)
    if not plan.chunks:
        raise SilentAudioError(
            f"{path.name}: no speech found in {analysis.duration_s:.1f} s of audio "
            "(silence or steady noise only)"
        )
    return plan
