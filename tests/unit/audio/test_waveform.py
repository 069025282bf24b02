"""The waveform a recording's page draws: peaks of known signals, as many columns as asked,
stereo mixed to mono, the same peaks when the signal streams past in blocks, and packing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicepipe.audio import analyse_recording
from voicepipe.audio.waveform import COLUMNS, PeakCollector, Waveform, peaks
from voicepipe.domain.chunking import ChunkingConfig

RATE_HZ = 16_000


def _sine(amplitude: float, seconds: float, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_a_sines_peaks_are_its_amplitude_in_every_column() -> None:
    wave = peaks(_sine(0.5, 10.0), columns=800)
    assert wave.columns == 800
    # a column is 200 samples, more than a 220 Hz period (73 samples): both extremes in each
    assert np.allclose(wave.maxs, 0.5, atol=0.01) and np.allclose(wave.mins, -0.5, atol=0.01)


def test_silence_is_flat() -> None:
    wave = peaks(np.zeros(RATE_HZ * 3, dtype=np.float32), columns=300)
    assert wave.columns == 300
    assert not wave.maxs.any() and not wave.mins.any()


def test_as_many_columns_as_asked_and_fewer_only_for_fewer_samples() -> None:
    assert peaks(_sine(0.3, 2.0), columns=1200).columns == 1200
    assert peaks(_sine(0.3, 2.0)).columns == COLUMNS
    assert peaks(np.ones(37, dtype=np.float32), columns=100).columns == 37


def test_a_loud_stretch_shows_in_its_own_columns() -> None:
    signal = np.concatenate([np.zeros(RATE_HZ * 5), _sine(0.8, 5.0)]).astype(np.float32)
    wave = peaks(signal, columns=100)
    assert np.all(wave.maxs[:50] == 0) and np.allclose(wave.maxs[50:], 0.8, atol=0.01)


def test_stereo_is_mixed_to_mono() -> None:
    left = _sine(0.8, 4.0)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    wave = peaks(stereo, columns=400)
    assert wave.columns == 400
    assert np.allclose(wave.maxs, 0.4, atol=0.01) and np.allclose(wave.mins, -0.4, atol=0.01)
    opposite = peaks(np.stack([left, -left], axis=1), columns=400)
    assert not opposite.maxs.any()  # the channels cancel: mixed, not the louder one kept


def test_blocks_streamed_past_give_the_same_peaks_as_the_whole_signal() -> None:
    signal = np.concatenate([_sine(0.2, 7.3), _sine(0.9, 5.1, hz=440.0)]).astype(np.float32)
    collector = PeakCollector()
    for start in range(0, signal.size, 32_011):  # blocks not a whole number of bins long
        collector.push(signal[start : start + 32_011])
    streamed = collector.waveform(columns=500)
    whole = peaks(signal, columns=500)
    assert streamed.columns == 500
    # bins of 10 ms move a column's edge by at most one bin: the same picture
    assert np.mean(np.abs(streamed.maxs - whole.maxs)) < 0.02
    assert streamed.maxs.max() == pytest.approx(signal.max(), abs=1e-6)
    assert streamed.mins.min() == pytest.approx(signal.min(), abs=1e-6)


def test_packing_keeps_the_peaks_and_is_small() -> None:
    wave = peaks(_sine(0.5, 12.0))
    packed = wave.encoded()
    assert len(packed) == 4 * COLUMNS
    back = Waveform.decoded(packed)
    assert back.columns == COLUMNS
    assert np.allclose(back.maxs, wave.maxs, atol=1e-4)
    assert np.allclose(back.mins, wave.mins, atol=1e-4)


def test_the_analysis_keeps_the_waveform_of_the_file_it_decoded(tmp_path: Path) -> None:
    """One decode pass: the analysis carries the waveform (here of a stereo file at 44.1 kHz
    with speech-like bursts between silences)."""
    rate = 44_100
    t = np.arange(int(rate * 1.5)) / rate
    burst = 0.6 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    silence = np.zeros(int(rate * 1.0))
    mono = np.concatenate([silence, burst, silence, burst, silence])
    path = tmp_path / "bursts.wav"
    sf.write(path, np.stack([mono, mono], axis=1), rate, subtype="PCM_16")
    analysis = analyse_recording(path, ChunkingConfig(min_s=1.0, max_s=6.0))
    wave = analysis.waveform
    assert wave.columns == round(analysis.duration_s * 100)  # shorter than 10 s: one per 10 ms
    assert wave.maxs.max() == pytest.approx(0.6, abs=0.03)
    first_silence = wave.maxs[: int(wave.columns * 0.15)]
    assert np.all(np.abs(first_silence) < 0.01)
