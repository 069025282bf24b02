"""Session fixtures for the audio tests: espeak-ng recordings, made once per run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.speech import SpeechFixture, build_recording, espeak_available


@pytest.fixture(scope="session")
def espeak_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not espeak_available():
        if os.environ.get("CI"):
            pytest.fail("espeak-ng is required on CI (apt-get install espeak-ng)")
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return tmp_path_factory.mktemp("espeak")


@pytest.fixture(scope="session")
def clean_speech(espeak_cache: Path) -> SpeechFixture:
    """Five sentences, 0.5-1.2 s pauses, background 60 dB below the speech."""
    return build_recording("clean", espeak_cache, 11, 5, (0.5, 1.2))
