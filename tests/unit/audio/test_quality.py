"""Quality features on numpy signals of known level, clipping and SNR, and the flags' wording."""

from __future__ import annotations

import numpy as np
import pytest

from voicepipe.audio.quality import CLIP_LEVEL, frame_quality
from voicepipe.domain.chunking import FrameStream
from voicepipe.domain.quality import (
    AudioQuality,
    FrameQuality,
    QualityThresholds,
    background_power,
    quality_flags,
    quality_of,
)

RATE_HZ = 16_000
HOP = 160


def _frames_of(signal: np.ndarray, block: int = 7_777) -> FrameQuality:
    """Per-frame quality the way the pipeline computes it: odd-sized blocks through FrameStream."""
    stream = FrameStream()
    parts = [
        frame_quality(stream.push(signal[k : k + block])) for k in range(0, signal.size, block)
    ]
    parts.append(frame_quality(stream.finish()))
    return FrameQuality.concat(parts)


def _tone(seconds: float, amplitude: float, hz: float = 441.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE_HZ)) / RATE_HZ
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _noise(seconds: float, rms: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(round(seconds * RATE_HZ)) * rms).astype(np.float32)


def _db(x: float) -> float:
    return float(20 * np.log10(x))


def test_one_row_per_10ms_frame_and_the_powers_add_up_to_the_signal() -> None:
    signal = _noise(3.0, 0.1) + _tone(3.0, 0.2)
    frames = _frames_of(signal)
    assert len(frames) == signal.size // HOP
    assert frames.power.sum() * HOP == pytest.approx(float(np.sum(signal.astype(np.float64) ** 2)))
    assert frames.peak.max() == pytest.approx(float(np.abs(signal).max()))
    whole = _frames_of(signal, block=signal.size)
    np.testing.assert_allclose(frames.power, whole.power, rtol=1e-6)
    np.testing.assert_allclose(frames.flatness, whole.flatness, rtol=1e-4, atol=1e-7)


def test_level_and_peak_of_a_sine() -> None:
    frames = _frames_of(_tone(2.0, 0.5))
    q = quality_of(frames, np.ones(len(frames), dtype=np.bool_))
    assert q.rms_dbfs == pytest.approx(_db(0.5 / np.sqrt(2)), abs=0.05)  # -9.03 dBFS
    assert q.speech_dbfs == pytest.approx(q.rms_dbfs, abs=0.01)
    assert q.peak_dbfs == pytest.approx(_db(0.5), abs=0.05)
    assert q.clipping_ratio == 0.0
    assert q.spectral_flatness < 0.01  # a pure tone: as far from noise as a spectrum gets


def test_speech_level_snr_and_speech_ratio_of_bursts_in_noise() -> None:
    # Three 1 s tones (-20 dBFS RMS) in 9 s, over white noise at -50 dBFS: SNR 30 dB.
    burst, pause = _tone(1.0, 0.1 * np.sqrt(2)), np.zeros(round(1.5 * RATE_HZ), np.float32)
    clean = np.concatenate([pause, burst, pause, burst, pause, burst, pause])
    signal = clean + _noise(clean.size / RATE_HZ, 10 ** (-50 / 20))
    frames = _frames_of(signal)
    speech = np.abs(clean).reshape(-1, HOP).max(axis=1) > 0
    q = quality_of(frames, speech)
    assert q.speech_ratio == pytest.approx(1 / 3, abs=0.01)
    assert q.speech_dbfs == pytest.approx(-20.0, abs=0.1)
    assert q.snr_db == pytest.approx(30.0, abs=0.5)
    assert q.rms_dbfs == pytest.approx(10 * np.log10(0.01 / 3 + 1e-5), abs=0.1)
    assert background_power(frames.power, speech) == pytest.approx(1e-5, rel=0.05)


def test_snr_of_a_noisy_recording_is_low() -> None:
    burst = _tone(1.0, 0.1 * np.sqrt(2))
    clean = np.concatenate([np.zeros(RATE_HZ, np.float32), burst, np.zeros(RATE_HZ, np.float32)])
    signal = clean + _noise(3.0, 0.1)  # noise as loud as the tone: 0 dB
    frames = _frames_of(signal)
    q = quality_of(frames, np.abs(clean).reshape(-1, HOP).max(axis=1) > 0)
    assert q.snr_db == pytest.approx(0.0, abs=1.0)


def test_clipping_counts_samples_at_full_scale() -> None:
    signal = np.clip(_tone(2.0, 2.0), -1.0, 1.0)  # a sine driven 6 dB past full scale
    expected = float(np.mean(np.abs(signal) >= CLIP_LEVEL))
    assert 0.6 < expected < 0.7  # |sin| >= 0.49: about two thirds of the samples
    frames = _frames_of(signal)
    q = quality_of(frames, np.ones(len(frames), dtype=np.bool_))
    assert q.clipping_ratio == pytest.approx(expected, abs=1e-5)
    assert q.peak_dbfs == pytest.approx(0.0, abs=0.01)
    quiet = _frames_of(_tone(2.0, 0.95))
    assert quality_of(quiet, np.ones(len(quiet), dtype=np.bool_)).clipping_ratio == 0.0


def test_flatness_is_high_for_noise_and_low_for_a_tone() -> None:
    noise, tone = _frames_of(_noise(1.0, 0.1)), _frames_of(_tone(1.0, 0.1))
    everything = np.ones(len(noise), dtype=np.bool_)
    assert quality_of(noise, everything).spectral_flatness > 0.4
    assert quality_of(tone, everything).spectral_flatness < 0.01


def test_chunk_quality_is_the_quality_of_its_frames() -> None:
    quiet, loud = _tone(2.0, 0.01), _tone(2.0, 0.5)
    signal = np.concatenate([quiet, loud]) + _noise(4.0, 1e-4)
    frames = _frames_of(signal)
    speech = np.ones(len(frames), dtype=np.bool_)
    background = 1e-8
    first = quality_of(frames, speech, 0, 200, background)
    second = quality_of(frames, speech, 200, 400, background)
    assert first.speech_dbfs == pytest.approx(_db(0.01 / np.sqrt(2)), abs=0.05)
    assert second.speech_dbfs == pytest.approx(_db(0.5 / np.sqrt(2)), abs=0.05)
    # No pauses of its own: a chunk's SNR is measured against the recording's background.
    assert second.snr_db == pytest.approx(10 * np.log10(0.125 / background - 1), abs=0.1)
    assert quality_of(frames, speech, 0, len(frames)) == quality_of(frames, speech)


def test_digital_silence_and_no_speech_stay_finite() -> None:
    frames = _frames_of(np.zeros(RATE_HZ, np.float32))
    q = quality_of(frames, np.zeros(len(frames), dtype=np.bool_))
    assert q.rms_dbfs == q.speech_dbfs == q.peak_dbfs == -100.0
    assert (q.snr_db, q.speech_ratio, q.spectral_flatness) == (0.0, 0.0, 0.0)
    assert all(np.isfinite(v) for v in q.model_dump().values())


THRESHOLDS = QualityThresholds(
    min_speech_dbfs=-35.0,
    max_clipping=0.001,
    min_snr_db=15.0,
    min_speech_ratio=0.2,
    max_flatness=0.3,
)
GOOD = AudioQuality(
    rms_dbfs=-24.0,
    speech_dbfs=-22.0,
    peak_dbfs=-3.0,
    clipping_ratio=0.0,
    snr_db=40.0,
    speech_ratio=0.7,
    spectral_flatness=0.02,
)


def test_good_audio_has_no_flags() -> None:
    assert quality_flags(GOOD, THRESHOLDS) == []


@pytest.mark.parametrize(
    ("change", "flag"),
    [
        ({"speech_dbfs": -41.23}, "speech is quiet: -41.2 dBFS, below -35 dBFS"),
        ({"clipping_ratio": 0.031}, "clipped: 3.1 % of samples at full scale (max 0.1 %)"),
        ({"clipping_ratio": 0.0015}, "clipped: 0.15 % of samples at full scale (max 0.1 %)"),
        ({"snr_db": 8.0}, "noisy: speech only 8.0 dB above the background (min 15 dB)"),
        ({"speech_ratio": 0.12}, "little speech: 12 % of the recording (min 20 %)"),
        ({"speech_ratio": 0.196}, "little speech: 19.6 % of the recording (min 20 %)"),
        ({"spectral_flatness": 0.41}, "noise-like speech: spectral flatness 0.41 (max 0.30)"),
    ],
)
def test_each_flag_reads_as_a_reason(change: dict[str, float], flag: str) -> None:
    assert quality_flags(GOOD.model_copy(update=change), THRESHOLDS) == [flag]


def test_values_at_the_thresholds_are_not_flagged() -> None:
    edge = GOOD.model_copy(
        update={"speech_dbfs": -35.0, "clipping_ratio": 0.001, "snr_db": 15.0, "speech_ratio": 0.2}
    )
    assert quality_flags(edge.model_copy(update={"spectral_flatness": 0.3}), THRESHOLDS) == []


def test_several_flags_at_once() -> None:
    bad = GOOD.model_copy(update={"speech_dbfs": -50.0, "snr_db": 3.0})
    assert [f.split(":")[0] for f in quality_flags(bad, THRESHOLDS)] == ["speech is quiet", "noisy"]
