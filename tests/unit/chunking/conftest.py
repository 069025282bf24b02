"""Session fixtures for chunking tests: espeak-ng recordings and encoded files, made once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.speech import SpeechFixture, build_recording

SENTENCES_PER_RECORDING = 6


@pytest.fixture(scope="session")
def scenario_recordings(espeak_cache: Path) -> list[SpeechFixture]:
    """One short recording per scenario of the evaluation set (see scripts/eval_chunking.py)."""
    from tests.support.speech import SCENARIOS

    return [
        build_recording(name, espeak_cache, 500 + k, SENTENCES_PER_RECORDING, *params)
        for k, (name, params) in enumerate(SCENARIOS.items())
    ]


@pytest.fixture(scope="session")
def clean_recording(espeak_cache: Path) -> SpeechFixture:
    return build_recording("clean", espeak_cache, 7, 4, (0.5, 0.9))


@pytest.fixture(scope="session")
def tone_bursts() -> tuple[np.ndarray, int]:
    """Numpy-only signal: 0.5 s tone bursts separated by 0.6 s of faint noise, 16 kHz."""
    rate = 16_000
    rng = np.random.default_rng(3)
    t = np.arange(int(0.5 * rate)) / rate
    burst = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    gap = np.zeros(int(0.6 * rate), dtype=np.float32)
    signal = np.concatenate([gap, burst, gap, burst, gap, burst, gap])
    signal += (rng.standard_normal(signal.size) * 1e-3).astype(np.float32)
    return signal, rate
