"""Decoding every upload format to 16 kHz mono, and clear permanent errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.support.speech import ENCODINGS, encode
from voicepipe.audio import (
    BadAudioError,
    EmptyAudioError,
    NotAudioError,
    SilentAudioError,
    TruncatedAudioError,
    chunk_file,
    stream_mono_16k,
)
from voicepipe.errors import PermanentTaskError

ON_S, OFF_S = 1.0, 2.0  # the test tone plays from 1 s to 2 s of a 3 s file


def _tone_file(tmp: Path, encoding: str, rate_hz: int, channels: int) -> Path:
    t = np.arange(int(3.0 * rate_hz)) / rate_hz
    tone = 0.3 * np.sin(2 * np.pi * 300 * t) * ((t >= ON_S) & (t < OFF_S))
    return encode(tone.astype(np.float32), rate_hz, channels, encoding, tmp / encoding)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize(("rate_hz", "channels"), [(22_050, 1), (48_000, 2)])
def test_every_format_decodes_to_16k_mono(
    tmp_path: Path, encoding: str, rate_hz: int, channels: int
) -> None:
    path = _tone_file(tmp_path, encoding, rate_hz, channels)
    blocks = list(stream_mono_16k(path))
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    samples = np.concatenate(blocks)
    assert abs(samples.size / 16_000 - 3.0) < 0.08  # codec padding only
    loud = np.flatnonzero(np.abs(samples) > 0.1) / 16_000
    # AAC in MP4 without an edit list keeps its encoder delay (~1024 samples).
    tolerance_s = 0.06 if encoding == "m4a_aac" else 0.01
    assert abs(loud[0] - ON_S) < tolerance_s
    assert abs(loud[-1] - OFF_S) < tolerance_s
    assert 0.25 < np.abs(samples).max() < 0.35  # downmix averages, it does not sum


def test_many_channels_and_odd_rates(tmp_path: Path) -> None:
    path = _tone_file(tmp_path, "flac", 11_025, 6)
    samples = np.concatenate(list(stream_mono_16k(path)))
    assert samples.size == 3 * 16_000
    assert 0.25 < np.abs(samples).max() < 0.35


def test_long_files_stream_in_bounded_blocks(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros((44_100 * 30, 2), dtype=np.int16), 44_100)
    sizes = [b.size for b in stream_mono_16k(path, block_s=2.0)]
    assert sum(sizes) == 30 * 16_000
    assert len(sizes) >= 10 and max(sizes) <= 2.2 * 16_000


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", NotAudioError),
        (b"just some text, not audio at all\n" * 50, NotAudioError),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, NotAudioError),
    ],
)
def test_not_audio(tmp_path: Path, content: bytes, error: type[BadAudioError]) -> None:
    path = tmp_path / "upload.wav"
    path.write_bytes(content)
    with pytest.raises(error, match=r"upload\.wav"):
        chunk_file(path)


def test_header_only_wav_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1), dtype=np.int16), 16_000)
    with pytest.raises(EmptyAudioError, match="no audio samples"):
        chunk_file(path)


@pytest.mark.parametrize("encoding", ["wav", "flac", "mp3"])
def test_truncated_upload(tmp_path: Path, encoding: str) -> None:
    full = _tone_file(tmp_path, encoding, 44_100, 2)
    cut = tmp_path / f"cut{full.suffix}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    with pytest.raises(TruncatedAudioError, match="cut") as caught:
        list(stream_mono_16k(cut))
    assert isinstance(caught.value, PermanentTaskError)


def test_damaged_data_is_a_clear_error(tmp_path: Path) -> None:
    full = _tone_file(tmp_path, "m4a_aac", 44_100, 2)
    data = bytearray(full.read_bytes())
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, len(data) - len(data) // 4, dtype=np.uint8)
    data[len(data) // 4 :] = noise.tobytes()
    damaged = tmp_path / "damaged.m4a"
    damaged.write_bytes(bytes(data))
    with pytest.raises(BadAudioError):
        chunk_file(damaged)


def test_silent_file(tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros((16_000 * 5, 2), dtype=np.int16), 16_000)
    with pytest.raises(SilentAudioError, match="no speech") as caught:
        chunk_file(path)
    assert isinstance(caught.value, PermanentTaskError)
