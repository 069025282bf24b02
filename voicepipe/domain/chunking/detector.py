"""The speech/pause detector interface, and the default one: band energy over the noise floor."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from voicepipe.domain.chunking.frames import FRAME_S, FRAME_SAMPLES, SAMPLE_RATE_HZ, FloatArray
from voicepipe.domain.chunking.runs import (
    drop_short_runs,
    fill_short_gaps,
    grow_runs,
    keep_runs_touching,
)

BoolArray = npt.NDArray[np.bool_]

_FFT_SIZE = 512
_SILENCE_DB = -100.0  # level given to digital silence, so logs stay finite
_SMOOTHING_FRAMES = 3


class SpeechDetector(Protocol):
    """Decides, frame by frame, where a recording has speech.

    Features are computed per block while the file streams (so they must depend on one frame
    only); the decision sees the whole recording's features, because the noise floor does.
    """

    def frame_features(self, frames: FloatArray) -> FloatArray:
        """(n, FRAME_SAMPLES) samples -> (n, k) features; column 0 is a level in dB."""
        ...

    def speech_mask(self, features: FloatArray) -> BoolArray:
        """(n, k) features of a whole recording -> (n,) True where there is speech."""
        ...


class EnergyDetectorConfig(BaseModel):
    """Tuning of EnergyDetector; defaults suit read speech from phones and laptops."""

    model_config = ConfigDict(frozen=True)

    band_low_hz: float = Field(250.0, gt=0)
    band_high_hz: float = Field(4000.0, gt=0)
    floor_percentile: float = Field(3.0, gt=0, lt=50)
    floor_window_s: float = Field(30.0, gt=1)
    lowest_floor_db: float = -80.0
    onset_margin_db: float = Field(4.5, gt=0)
    release_margin_db: float = Field(2.0, gt=0)
    min_pause_s: float = Field(0.08, ge=0)
    min_speech_s: float = Field(0.04, ge=0)
    sustained_speech_s: float = Field(0.2, gt=0)
    hangover_s: float = Field(0.02, ge=0)


class EnergyDetector:
    """Speech is where the 250-4000 Hz band rises clearly above the recording's own noise floor.

        The floor is a low percentile of the band level in a sliding window, so it follows the
        room and microphone rather than the loudest peak (which fails on noisy uploads). Hysteresis
        (onset margin to start speech, smaller release margin to end it) keeps weak word endings,
    and a long stretch above the release margin counts even without a loud onset;
        gaps shorter than min_pause_s (stop closures) are filled, then a short hangover protects
        edges.
    """

    def __init__(self, config: EnergyDetectorConfig | None = None) -> None:
        self.config = config or EnergyDetectorConfig()
        freqs = np.fft.rfftfreq(_FFT_SIZE, 1.0 / SAMPLE_RATE_HZ)
        band = (freqs >= self.config.band_low_hz) & (freqs <= self.config.band_high_hz)
        self._band = np.flatnonzero(band)
        window = np.hanning(FRAME_SAMPLES).astype(np.float32)
        self._window = window
        # Scales the band power so a full-scale sine in the band reads about -3 dB.
        self._power_scale = 2.0 / (float(np.sum(window)) ** 2)

    def frame_features(self, frames: FloatArray) -> FloatArray:
        if frames.shape[0] == 0:
            return np.zeros((0, 1), dtype=np.float32)
        spectrum = np.fft.rfft(frames * self._window, n=_FFT_SIZE, axis=1)
        band = spectrum[:, self._band]
        power = (band.real**2 + band.imag**2).sum(axis=1) * self._power_scale
        level_db = 10.0 * np.log10(np.maximum(power, 10 ** (_SILENCE_DB / 10)))
        features: FloatArray = level_db.astype(np.float32).reshape(-1, 1)
        return features

    def speech_mask(self, features: FloatArray) -> BoolArray:
        if features.shape[0] == 0:
            return np.zeros(0, dtype=np.bool_)
        level_db = _smooth_db(features[:, 0].astype(np.float64), _SMOOTHING_FRAMES)
        floor_db = self.noise_floor_db(level_db)
        cfg = self.config
        onset = level_db > floor_db + cfg.onset_margin_db
        # Gaps are bridged before the onset test, so a weak word ending or onset next to a
        # stop closure still joins the loud syllable it belongs to.
        sustain = fill_short_gaps(
            level_db > floor_db + cfg.release_margin_db, _frames(cfg.min_pause_s)
        )
        # A long stretch just above the floor is speech too (a quiet voice in noise).
        long_sustain = drop_short_runs(sustain, _frames(cfg.sustained_speech_s))
        speech = keep_runs_touching(sustain, onset) | long_sustain
        speech = fill_short_gaps(speech, _frames(cfg.min_pause_s))
        speech = drop_short_runs(speech, _frames(cfg.min_speech_s))
        return grow_runs(speech, _frames(cfg.hangover_s))

    def noise_floor_db(self, level_db: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Per-frame noise floor: a low percentile over a sliding window, sampled every second."""
        cfg = self.config
        step = round(1.0 / FRAME_S)
        half = _frames(cfg.floor_window_s) // 2
        centres = np.arange(0, level_db.size, step)
        floors = np.array(
            [
                np.percentile(level_db[max(0, c - half) : c + half + 1], cfg.floor_percentile)
                for c in centres
            ]
        )
        floor = np.interp(np.arange(level_db.size), centres, floors)
        floor_db: npt.NDArray[np.float64] = np.maximum(floor, cfg.lowest_floor_db)
        return floor_db


def _smooth_db(level_db: npt.NDArray[np.float64], frames: int) -> npt.NDArray[np.float64]:
    """Moving average in the power domain: steadier noise estimates, same time resolution."""
    power = 10 ** (level_db / 10)
    smoothed = np.convolve(power, np.ones(frames) / frames, mode="same")
    return 10 * np.log10(np.maximum(smoothed, 10 ** (_SILENCE_DB / 10)))


def _frames(seconds: float) -> int:
    return round(seconds / FRAME_S)
