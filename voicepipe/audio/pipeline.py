"""What process_audio_recording runs in the CPU pool: analyse a recording, export its chunks.

analyse_recording decodes once, keeping only per-frame detector and quality features (a few
numbers per 10 ms), so a long recording needs little memory; export_recording decodes again
to write the chunks. Both raise BadAudioError subclasses (permanent) or TransientAudioError,
never a library's exception.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from voicepipe.audio import quality as frame_features
from voicepipe.audio.decode import FloatArray, stream_mono_16k
from voicepipe.audio.errors import (
    CorruptAudioError,
    SilentAudioError,
    TooShortAudioError,
    TransientAudioError,
)
from voicepipe.audio.export import export_chunks
from voicepipe.audio.waveform import PeakCollector, Waveform
from voicepipe.domain.chunking import (
    FRAME_S,
    SAMPLE_RATE_HZ,
    Chunk,
    ChunkingConfig,
    ChunkPlan,
    EnergyDetector,
    FrameStream,
    plan_chunks,
)
from voicepipe.domain.quality import AudioQuality, FrameQuality, background_power, quality_of

DETECTOR = "energy"


@dataclass(frozen=True)
class ChunkAnalysis:
    """One planned chunk, in seconds from the recording's start, with its own quality."""

    position: int  # 1-based, the number in its file name
    start_s: float
    end_s: float
    forced_cut: bool
    quality: AudioQuality


@dataclass(frozen=True)
class RecordingAnalysis:
    """Everything stage 1 learns about a recording; small and picklable."""

    duration_s: float  # of the decoded 16 kHz signal
    sample_rate_hz: int  # of the upload's audio stream
    channels: int
    detector: str
    quality: AudioQuality
    chunks: tuple[ChunkAnalysis, ...]
    waveform: Waveform  # for the recording's page, from the same decode


def analyse_recording(path: Path, config: ChunkingConfig) -> RecordingAnalysis:
    """Decode once: detect speech, plan chunks, measure the recording's and each chunk's
    quality from the same frames, and keep the waveform's peaks."""
    detector = EnergyDetector()
    frames = FrameStream()
    waveform = PeakCollector()
    features: list[FloatArray] = []
    qualities: list[FrameQuality] = []
    for block in stream_mono_16k(path):
        waveform.push(block)
        _add_frames(frames.push(block), detector, features, qualities, path.name)
    _add_frames(frames.finish(), detector, features, qualities, path.name)
    duration_s = frames.samples_seen / SAMPLE_RATE_HZ
    if duration_s < config.min_s:
        # One decimal, unless that would round up to the limit ("1.0 s long; ... 1.0 s").
        shown = f"{duration_s:.1f}" if round(duration_s, 1) < config.min_s else f"{duration_s:.3f}"
        raise TooShortAudioError(
            f"{path.name}: {shown} s long; the shortest chunk is {config.min_s:.1f} s"
        )
    levels = np.concatenate(features, axis=0)
    per_frame = FrameQuality.concat(qualities)
    speech = detector.speech_mask(levels)
    plan = plan_chunks(speech, levels[:, 0], duration_s, config)
    if not plan.chunks:
        raise SilentAudioError(
            f"{path.name}: no speech found in {duration_s:.1f} s of audio "
            "(silence or steady noise only)"
        )
    background = background_power(per_frame.power, speech)
    chunks = tuple(
        ChunkAnalysis(
            position=k + 1,
            start_s=chunk.start_s,
            end_s=chunk.end_s,
            forced_cut=chunk.forced_cut,
            quality=quality_of(
                per_frame,
                speech,
                round(chunk.start_s / FRAME_S),
                round(chunk.end_s / FRAME_S),
                background,
            ),
        )
        for k, chunk in enumerate(plan.chunks)
    )
    sample_rate_hz, channels = _stream_format(path)
    return RecordingAnalysis(
        duration_s=round(duration_s, 3),
        sample_rate_hz=sample_rate_hz,
        channels=channels,
        detector=DETECTOR,
        quality=quality_of(per_frame, speech),
        chunks=chunks,
        waveform=waveform.waveform(),
    )


def _add_frames(
    frames: FloatArray,
    detector: EnergyDetector,
    features: list[FloatArray],
    qualities: list[FrameQuality],
    name: str,
) -> None:
    features.append(detector.frame_features(frames))
    try:
        qualities.append(frame_features.frame_quality(frames))
    except CorruptAudioError as exc:
        raise CorruptAudioError(f"{name}: {exc}") from exc


def _stream_format(path: Path) -> tuple[int, int]:
    """The upload's own sample rate and channel count (the file has decoded already)."""
    try:
        with av.open(str(path), mode="r") as container:
            stream = container.streams.audio[0]
            return int(stream.sample_rate or 0), int(stream.channels or 0)
    except av.FFmpegError as exc:
        raise CorruptAudioError(f"{path.name}: cannot read the audio stream's format") from exc
    except OSError as exc:
        raise TransientAudioError(f"{path.name}: cannot read file: {exc}") from exc


def export_recording(path: Path, analysis: RecordingAnalysis, out_dir: Path) -> list[str]:
    """Write each chunk as 16 kHz mono FLAC, 0001.flac …, into out_dir; return the names.

    Files are written into a hidden scratch folder and renamed into place only once all of
    them are complete, so a killed run never leaves a half-written file under a final name.
    """
    plan = ChunkPlan(
        chunks=tuple(Chunk(c.start_s, c.end_s, c.forced_cut) for c in analysis.chunks),
        duration_s=analysis.duration_s,
        speech_s=0.0,
    )
    names = [f"{c.position:04d}.flac" for c in analysis.chunks]
    scratch = out_dir / f".partial-{uuid.uuid4().hex[:12]}"
    try:
        written = export_chunks(path, plan, scratch, "chunk", "flac")
        short = sum(
            1
            for chunk, file in zip(plan.chunks, written, strict=True)
            if not file.exists() or sf.info(file).frames < _samples(chunk)
        )
        if short:
            raise CorruptAudioError(
                f"{path.name}: decoded shorter than when it was analysed "
                f"({short} of {len(written)} chunks incomplete)"
            )
        for source, name in zip(written, names, strict=True):
            source.replace(out_dir / name)
    except (OSError, sf.SoundFileError) as exc:
        raise TransientAudioError(f"{path.name}: writing chunks failed: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(scratch)
    return names


def _samples(chunk: Chunk) -> int:
    return round(chunk.end_s * SAMPLE_RATE_HZ) - round(chunk.start_s * SAMPLE_RATE_HZ)


def warm_up() -> None:
    """Run the feature functions once, so a CPU child's first job does not pay for it."""
    frame_features.warm_up()
