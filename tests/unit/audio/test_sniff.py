"""Sniffing the container from the first bytes: real files of every format, and non-audio."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from voicepipe.audio.sniff import EXTENSIONS, SNIFF_BYTES, sniff_format

RATE_HZ = 16_000


def _tone(seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(SNIFF_BYTES)


# format we claim -> (soundfile format, subtype, suffix)
SOUNDFILE = {
    "wav": ("WAV", "PCM_16", ".wav"),
    "rf64": ("RF64", "PCM_16", ".wav"),
    "flac": ("FLAC", "PCM_16", ".flac"),
    "ogg": ("OGG", "VORBIS", ".ogg"),
    "aiff": ("AIFF", "PCM_16", ".aiff"),
    "aifc": ("AIFF", "ULAW", ".aifc"),  # compressed AIFF: FORM/AIFC
    "caf": ("CAF", "PCM_16", ".caf"),
}
EXPECTED_SOUNDFILE = {"rf64": "wav", "aifc": "aiff"}

# PyAV muxer, codec, suffix -> the format sniffed
PYAV = {
    "mp3": ("mp3", "libmp3lame", ".mp3", "mp3"),
    "opus": ("ogg", "libopus", ".opus", "ogg"),
    "webm": ("webm", "libopus", ".webm", "webm"),
    "matroska": ("matroska", "libvorbis", ".mka", "webm"),
    "m4a": ("ipod", "aac", ".m4a", "mp4"),
    "mp4": ("mp4", "aac", ".mp4", "mp4"),
    "mov": ("mov", "aac", ".mov", "mp4"),
    "aiff": ("aiff", "pcm_s16be", ".aif", "aiff"),
}


@pytest.mark.parametrize("name", sorted(SOUNDFILE))
def test_files_written_by_soundfile(tmp_path: Path, name: str) -> None:
    fmt, subtype, suffix = SOUNDFILE[name]
    path = tmp_path / f"a{suffix}"
    sf.write(path, _tone(), RATE_HZ, format=fmt, subtype=subtype)
    assert sniff_format(_head(path)) == EXPECTED_SOUNDFILE.get(name, name)


def test_bw64_is_wav(tmp_path: Path) -> None:
    # BW64 (ITU-R BS.2088) is RF64 under another name; no writer here makes it, FFmpeg reads it.
    path = tmp_path / "a.wav"
    sf.write(path, _tone(), RATE_HZ, format="RF64")
    head = bytearray(_head(path))
    head[:4] = b"BW64"
    assert sniff_format(bytes(head)) == "wav"


def _write_with_pyav(path: Path, muxer: str, codec_name: str) -> Path:
    with av.open(str(path), mode="w", format=muxer) as container:
        codec = av.Codec(codec_name, "w")
        rate_hz = 48_000 if codec.audio_rates and RATE_HZ not in codec.audio_rates else RATE_HZ
        stream = container.add_stream(codec_name, rate=rate_hz, layout="mono")
        assert isinstance(stream, av.AudioStream)
        formats = codec.audio_formats or []
        resampler = av.AudioResampler(format=formats[0].name, layout="mono", rate=rate_hz)
        frame = av.AudioFrame.from_ndarray(_tone().reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = RATE_HZ
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(piece):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.mark.parametrize("name", sorted(PYAV))
def test_files_written_by_pyav(tmp_path: Path, name: str) -> None:
    muxer, codec_name, suffix, expected = PYAV[name]
    path = _write_with_pyav(tmp_path / f"a{suffix}", muxer, codec_name)
    assert sniff_format(_head(path)) == expected


def test_mp3_without_id3_tag_is_found_by_its_frame_sync(tmp_path: Path) -> None:
    path = _write_with_pyav(tmp_path / "a.mp3", "mp3", "libmp3lame")
    data = path.read_bytes()
    assert data[:3] == b"ID3"  # PyAV's muxer writes a tag; strip it to get bare frames
    size = 0
    for byte in data[6:10]:
        size = size << 7 | byte
    bare = data[10 + size :]
    assert bare[0] == 0xFF
    assert sniff_format(bare[:SNIFF_BYTES]) == "mp3"
    assert sniff_format(bare[:2]) is None  # too short to hold a frame header


def test_id3_tag_bigger_than_the_head_is_taken_for_mp3() -> None:
    size = 100_000
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    assert sniff_format(b"ID3\x04\x00\x00" + syncsafe + b"\x00" * (SNIFF_BYTES - 10)) == "mp3"


def test_flac_behind_an_id3_tag(tmp_path: Path) -> None:
    path = tmp_path / "a.flac"
    sf.write(path, _tone(), RATE_HZ, format="FLAC")
    tagged = b"ID3\x03\x00\x00\x00\x00\x00\x05" + b"\x00" * 5 + path.read_bytes()
    assert sniff_format(tagged[:SNIFF_BYTES]) == "flac"


def test_a_text_file_named_wav_is_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("RIFF is a container format; this file only talks about it.\n" * 50)
    assert sniff_format(_head(path)) is None


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64


def _jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + b"\x00" * 64


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "hello")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"RIFF",
        b"RIFF\x24\x00\x00\x00AVI LIST",  # RIFF but a video, not WAVE
        b"FORM\x00\x00\x00\x10ILBM",  # IFF but an image
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",  # a HEIF photo
        b"%PDF-1.7\n",
        b"<!doctype html><html></html>",
        b'\xef\xbb\xbf{"json": true}',
        _png(),
        _jpeg(),
        _zip(),
        b"ID3",
        b"ID3 tags hold the title and artist of an MP3 file." * 3,
    ],
    ids=lambda head: repr(head[:8]),
)
def test_not_audio(head: bytes) -> None:
    assert sniff_format(head) is None


def test_random_bytes_are_not_audio() -> None:
    rng = np.random.default_rng(0)
    heads = [rng.integers(0, 256, SNIFF_BYTES, dtype=np.uint8).tobytes() for _ in range(200)]
    # Random data that happens to start with an MPEG frame sync also needs a second frame.
    heads += [b"\xff\xfb\x90\x00" + h[4:] for h in heads[:50]]
    assert [h[:4] for h in heads if sniff_format(h) is not None] == []


def test_every_format_has_an_extension() -> None:
    sniffed = {expected for *_, expected in PYAV.values()} | {
        EXPECTED_SOUNDFILE.get(name, name) for name in SOUNDFILE
    }
    assert sniffed == set(EXTENSIONS)
    assert all(ext.isalnum() for ext in EXTENSIONS.values())
