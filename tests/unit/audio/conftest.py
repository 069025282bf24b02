"""Session fixtures for the audio tests: espeak-ng recordings, made once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.speech import SpeechFixture, build_recording


@pytest.fixture(scope="session")
def clean_speech(espeak_cache: Path) -> SpeechFixture:
    """Five sentences, 0.5-1.2 s pauses, background 60 dB below the speech."""
    return build_recording("clean", espeak_cache, 11, 5, (0.5, 1.2))
