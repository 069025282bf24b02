"""Audio quality of a recording or chunk, and the readable reasons it falls below the thresholds."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from voicepipe.domain.chunking.frames import HOP_SAMPLES

BoolArray = npt.NDArray[np.bool_]
_FLOOR_DB = -100.0  # level given to digital silence, so every figure stays finite (JSON-safe)
_FLOOR_POWER = 10 ** (_FLOOR_DB / 10)
_MAX_SNR_DB = 100.0
# Fewer non-speech frames than this (0.2 s) say too little about the background: a chunk
# then uses its recording's background, a recording without pauses its quietest frames.
MIN_BACKGROUND_FRAMES = 20
_QUIET_PERCENTILE = 10.0


class AudioQuality(BaseModel):
    """Measured on the 16 kHz mono signal the chunker sees (librosa's feature functions)."""

    model_config = ConfigDict(frozen=True)

    rms_dbfs: float  # RMS level over the whole signal
    speech_dbfs: float  # RMS level over the frames judged speech
    peak_dbfs: float
    clipping_ratio: float  # share of samples at or near full scale
    snr_db: float  # speech level above the background (non-speech) level
    speech_ratio: float  # share of frames judged speech
    spectral_flatness: float  # median over speech frames: 0 tonal/voiced … 1 white noise


class QualityThresholds(BaseModel):
    """The VOICEPIPE_QUALITY_* settings (their defaults live there)."""

    model_config = ConfigDict(frozen=True)

    min_speech_dbfs: float
    max_clipping: float
    min_snr_db: float
    min_speech_ratio: float
    max_flatness: float


@dataclass(frozen=True)
class FrameQuality:
    """Per-frame quality features, one row per 10 ms detector frame (FrameStream's frames).

    power and clipped describe frame k's own hop (samples [k*hop, (k+1)*hop)), so sums over
    a frame range are exact sums over its samples; flatness describes the 25 ms window.
    """

    power: npt.NDArray[np.float64]  # mean square of the hop's samples
    peak: npt.NDArray[np.float32]  # largest |sample| in the hop
    clipped: npt.NDArray[np.uint8]  # samples of the hop at or near full scale
    flatness: npt.NDArray[np.float32]  # spectral flatness of the frame's window

    def __len__(self) -> int:
        return int(self.power.size)

    @staticmethod
    def concat(parts: list[FrameQuality]) -> FrameQuality:
        return FrameQuality(
            power=np.concatenate([p.power for p in parts]),
            peak=np.concatenate([p.peak for p in parts]),
            clipped=np.concatenate([p.clipped for p in parts]),
            flatness=np.concatenate([p.flatness for p in parts]),
        )


def background_power(power: npt.NDArray[np.float64], speech: BoolArray) -> float:
    """The background level (mean square) of frames with these powers: the median pause frame.

    The median rather than the mean, so a cough or the fading end of a word left outside
    the speech mask does not lift the background. Without enough pause frames, the quietest
    tenth of all frames stands in for it.
    """
    pauses = power[~speech]
    if pauses.size >= MIN_BACKGROUND_FRAMES:
        return max(float(np.median(pauses)), _FLOOR_POWER)
    if power.size == 0:
        return _FLOOR_POWER
    return max(float(np.percentile(power, _QUIET_PERCENTILE)), _FLOOR_POWER)


def quality_of(
    frames: FrameQuality,
    speech: BoolArray,
    start: int = 0,
    end: int | None = None,
    background: float | None = None,
) -> AudioQuality:
    """Quality of frames [start, end): a whole recording, or one chunk of it.

    Levels are 20*log10(RMS) in dBFS (a full-scale sine reads -3 dBFS), floored at -100.
    The SNR compares the speech frames (speech plus background) with the median pause
    frame; `background` is the recording's (see background_power), which a chunk with too
    few pause frames of its own uses instead. On espeak fixtures with white or pink noise
    it reads about 2 dB high at 10 dB and 3 dB high at 0 dB, since the detector keeps the
    louder parts of speech in noise.
    """
    end = len(frames) if end is None else end
    power, is_speech = frames.power[start:end], speech[start:end]
    n = power.size
    if n == 0:
        return AudioQuality(
            rms_dbfs=_FLOOR_DB,
            speech_dbfs=_FLOOR_DB,
            peak_dbfs=_FLOOR_DB,
            clipping_ratio=0.0,
            snr_db=0.0,
            speech_ratio=0.0,
            spectral_flatness=0.0,
        )
    own_pauses = int(n - is_speech.sum())
    if own_pauses >= MIN_BACKGROUND_FRAMES or background is None:
        noise = background_power(power, is_speech)
    else:
        noise = background
    speech_power = float(power[is_speech].mean()) if is_speech.any() else 0.0
    # Speech frames hold speech plus background; the ratio minus one is the speech's own SNR.
    snr = 10 * math.log10(max(speech_power / noise - 1.0, 1e-3)) if speech_power else 0.0
    flat = frames.flatness[start:end][is_speech]
    peak = float(frames.peak[start:end].max())
    clipped = int(frames.clipped[start:end].sum(dtype=np.int64))
    return AudioQuality(
        rms_dbfs=_db(float(power.mean())),
        speech_dbfs=_db(speech_power),
        peak_dbfs=_db(peak * peak),
        clipping_ratio=round(clipped / (n * HOP_SAMPLES), 6),
        snr_db=round(min(snr, _MAX_SNR_DB), 2),
        speech_ratio=round(float(is_speech.mean()), 4),
        spectral_flatness=round(float(np.median(flat)), 4) if flat.size else 0.0,
    )


def _db(power: float) -> float:
    return round(max(10 * math.log10(max(power, _FLOOR_POWER)), _FLOOR_DB), 2)


def quality_flags(q: AudioQuality, t: QualityThresholds) -> list[str]:
    """Readable reasons the audio falls short of the thresholds; empty when it does not."""
    flags = []
    if q.speech_dbfs < t.min_speech_dbfs:
        flags.append(f"speech is quiet: {q.speech_dbfs:.1f} dBFS, below {t.min_speech_dbfs:g} dBFS")
    if q.clipping_ratio > t.max_clipping:
        flags.append(
            f"clipped: {_percent(q.clipping_ratio)} % of samples at full scale "
            f"(max {_percent(t.max_clipping)} %)"
        )
    if q.snr_db < t.min_snr_db:
        flags.append(
            f"noisy: speech only {q.snr_db:.1f} dB above the background (min {t.min_snr_db:g} dB)"
        )
    if q.speech_ratio < t.min_speech_ratio:
        flags.append(
            f"little speech: {_percent(q.speech_ratio)} % of the recording "
            f"(min {_percent(t.min_speech_ratio)} %)"
        )
    if q.spectral_flatness > t.max_flatness:
        flags.append(
            f"noise-like speech: spectral flatness {q.spectral_flatness:.2f} "
            f"(max {t.max_flatness:.2f})"
        )
    return flags


def _percent(share: float) -> str:
    """0.031 -> "3.1", 0.12 -> "12", 0.0015 -> "0.15": enough digits to tell it from a limit."""
    percent = share * 100
    text = f"{percent:.1f}" if percent >= 1 else f"{percent:.2g}"
    return text.removesuffix(".0")
