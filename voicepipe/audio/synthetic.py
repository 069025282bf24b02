"""Speech-like test signal with known pauses, for benchmarks and tests (numpy only)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SyntheticPiece:
    """One sentence of voiced syllables (with stop-like closures) followed by a pause."""

    samples: FloatArray  # sentence then pause, mono
    speech_s: float  # the sentence's length; the rest of `samples` is pause


def speech_like_pieces(
    sample_rate_hz: int, seed: int, pause_range_s: tuple[float, float] = (0.3, 1.2)
) -> Iterator[SyntheticPiece]:
    """Endless sentences of harmonic syllables separated by pauses, reproducible from `seed`.

    Syllables are 80-250 ms of a pitched tone with a few harmonics under a smooth envelope;
    between syllables, 20-70 ms closures at the background level mimic stop consonants, which
    a pause detector must not take for pauses.
    """
    rng = np.random.default_rng(seed)
    while True:
        parts: list[FloatArray] = []
        sentence_s = rng.uniform(1.5, 5.0)
        level = 10 ** (rng.uniform(-16, -6) / 20)
        produced_s = 0.0
        while produced_s < sentence_s:
            syllable = _syllable(rng, sample_rate_hz, level)
            parts.append(syllable)
            produced_s += syllable.size / sample_rate_hz
            if produced_s < sentence_s:
                closure_s = rng.uniform(0.02, 0.07)
                parts.append(np.zeros(int(closure_s * sample_rate_hz), dtype=np.float32))
                produced_s += closure_s
        sentence = np.concatenate(parts)
        pause = np.zeros(int(rng.uniform(*pause_range_s) * sample_rate_hz), dtype=np.float32)
        yield SyntheticPiece(
            samples=np.concatenate([sentence, pause]),
            speech_s=sentence.size / sample_rate_hz,
        )


def _syllable(rng: np.random.Generator, sample_rate_hz: int, level: float) -> FloatArray:
    duration_s = rng.uniform(0.08, 0.25)
    t = np.arange(int(duration_s * sample_rate_hz)) / sample_rate_hz
    f0_hz = rng.uniform(100, 220) * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f0_hz) / sample_rate_hz
    wave = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = np.sin(np.pi * t / duration_s) ** 0.5
    return np.asarray(level * envelope * wave, dtype=np.float32)


def background_noise(rng: np.random.Generator, n_samples: int, level_db: float) -> FloatArray:
    """White noise at `level_db` dBFS RMS."""
    scale = 10 ** (level_db / 20)
    return (rng.standard_normal(n_samples) * scale).astype(np.float32)
