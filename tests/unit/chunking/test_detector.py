"""The default detector: threshold from the noise floor, stop closures are not pauses."""

from __future__ import annotations

import numpy as np

from voicepipe.domain.chunking import EnergyDetector, FrameStream, SpeechDetector
from voicepipe.domain.chunking.runs import runs_of

RATE = 16_000


def _mask(signal: np.ndarray, detector: SpeechDetector | None = None) -> np.ndarray:
    detector = detector or EnergyDetector()
    frames = FrameStream()
    features = np.concatenate(
        [detector.frame_features(frames.push(signal)), detector.frame_features(frames.finish())]
    )
    return detector.speech_mask(features)


def _tone(seconds: float, level: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    harmonics = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 10))
    return (level * harmonics * (1 + 0.1 * rng.standard_normal(t.size))).astype(np.float32)


def _noise(seconds: float, level: float, rng: np.random.Generator) -> np.ndarray:
    return (level * rng.standard_normal(int(seconds * RATE))).astype(np.float32)


def test_detects_bursts_between_pauses(tone_bursts: tuple[np.ndarray, int]) -> None:
    signal, _ = tone_bursts
    runs = runs_of(_mask(signal))
    assert len(runs) == 3
    for (start, end), true_start in zip(runs, (0.6, 1.7, 2.8), strict=True):
        assert abs(start / 100 - true_start) < 0.05
        assert abs(end / 100 - (true_start + 0.5)) < 0.06


def test_stop_closure_is_not_a_pause_but_a_short_pause_is() -> None:
    rng = np.random.default_rng(1)

    def quiet(seconds: float) -> np.ndarray:
        return _noise(seconds, 1e-3, rng)

    signal = np.concatenate(
        [
            quiet(0.5),
            _tone(0.4, 0.1, rng),
            quiet(0.05),
            _tone(0.4, 0.1, rng),
            quiet(0.18),
            _tone(0.4, 0.1, rng),
            quiet(0.5),
        ]
    )
    runs = runs_of(_mask(signal))
    assert len(runs) == 2, runs  # the 50 ms closure is bridged, the 180 ms pause is not
    assert 0.5 * 100 - 5 <= runs[0][0] <= 0.5 * 100 + 5


def test_threshold_follows_noise_floor_not_peak() -> None:
    """Speech 10 dB over loud noise, with one loud cough, is still found."""
    rng = np.random.default_rng(2)
    noise_level = 0.05
    speech_level = 0.05
    parts = [_noise(1.0, noise_level, rng)]
    for _ in range(4):
        parts += [_tone(0.8, speech_level, rng), np.zeros(int(0.7 * RATE), np.float32)]
    parts.append(_tone(0.1, 0.9, rng))  # a cough 20+ dB above everything else
    signal = np.concatenate(parts)
    signal[int(1.0 * RATE) :] += _noise((signal.size - RATE) / RATE, noise_level, rng)
    runs = runs_of(_mask(signal))
    assert len(runs) == 5, runs
    quiet_speech = runs[:4]
    assert all(0.7 <= (end - start) / 100 <= 1.0 for start, end in quiet_speech)


def test_steady_noise_and_silence_hold_no_speech() -> None:
    rng = np.random.default_rng(4)
    assert not _mask(_noise(20.0, 0.1, rng)).any()
    assert not _mask(np.zeros(RATE * 5, dtype=np.float32)).any()
    hum = (0.2 * np.sin(2 * np.pi * 300 * np.arange(RATE * 5) / RATE)).astype(np.float32)
    assert not _mask(hum).any()


def test_detector_is_swappable() -> None:
    """Anything with frame_features and speech_mask can stand in for the energy detector."""

    class EverythingIsSpeech:
        def frame_features(self, frames: np.ndarray) -> np.ndarray:
            return np.zeros((frames.shape[0], 1), dtype=np.float32)

        def speech_mask(self, features: np.ndarray) -> np.ndarray:
            return np.ones(features.shape[0], dtype=bool)

    detector: SpeechDetector = EverythingIsSpeech()
    assert _mask(np.zeros(RATE, dtype=np.float32), detector).all()
