"""Stream any audio file as 16 kHz mono float32 blocks, in bounded memory (PyAV + soxr)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import soxr

from voicepipe.audio.errors import (
    CorruptAudioError,
    EmptyAudioError,
    NotAudioError,
    TransientAudioError,
    TruncatedAudioError,
)
from voicepipe.domain.chunking import SAMPLE_RATE_HZ

FloatArray = npt.NDArray[np.float32]

BLOCK_S = 2.0  # decoded audio is gathered into blocks this long before resampling
# A file may end a little before its header says (encoder padding, VBR estimates); beyond
# this, the upload was cut short.
_TRUNCATION_TOLERANCE = 0.9
_TRUNCATION_SLACK_S = 0.5

_INT_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 2.0**63}


def stream_mono_16k(path: Path, block_s: float = BLOCK_S) -> Iterator[FloatArray]:
    """Yield the recording as consecutive 16 kHz mono float32 blocks.

    Raises a BadAudioError subclass for files that are not audio, empty, truncated or
    corrupt, and TransientAudioError for I/O failures; never a library error.
    """
    try:
        container = av.open(str(path), mode="r")
    except FileNotFoundError as exc:
        raise TransientAudioError(f"{path.name}: file not found") from exc
    except av.error.EOFError as exc:
        raise TruncatedAudioError(f"{path.name}: the file ends before its headers do") from exc
    except av.FFmpegError as exc:
        raise NotAudioError(
            f"{path.name}: not an audio or video file we can read (or cut off before its index)"
        ) from exc
    except OSError as exc:
        raise TransientAudioError(f"{path.name}: cannot read file: {exc}") from exc
    with container:
        if not container.streams.audio:
            raise NotAudioError(f"{path.name}: the file has no audio stream")
        stream = container.streams.audio[0]
        declared_s = _declared_duration_s(container, stream)
        _check_wav_length(path)
        decoded_s = 0.0
        try:
            for block in _decode_blocks(container, stream, path.name, block_s):
                decoded_s += block.size / SAMPLE_RATE_HZ
                yield block
        except CorruptAudioError as exc:
            # damaged data short of the announced end: most often an upload cut off mid-frame
            if declared_s is not None and _cut_short(decoded_s, declared_s):
                raise TruncatedAudioError(
                    f"{path.name}: ends after {decoded_s:.1f} s of the {declared_s:.1f} s its "
                    "header announces, in the middle of a frame; the upload was probably "
                    "interrupted"
                ) from exc
            raise
    if decoded_s == 0.0:
        raise EmptyAudioError(f"{path.name}: the file contains no audio samples")
    if declared_s is not None and _cut_short(decoded_s, declared_s):
        raise TruncatedAudioError(
            f"{path.name}: ends after {decoded_s:.1f} s of the {declared_s:.1f} s its header "
            "announces; the upload was probably interrupted"
        )


def _cut_short(decoded_s: float, declared_s: float) -> bool:
    return decoded_s < declared_s * _TRUNCATION_TOLERANCE - _TRUNCATION_SLACK_S


def _decode_blocks(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    name: str,
    block_s: float,
) -> Iterator[FloatArray]:
    resampler: soxr.ResampleStream | None = None
    rate_hz = 0
    pending: list[FloatArray] = []
    pending_samples = 0
    try:
        for frame in container.decode(stream):
            if frame.sample_rate != rate_hz:
                # A rate change mid-stream (rare, e.g. chained Ogg): drain and start afresh.
                if resampler is not None:
                    yield from _resample(resampler, pending, last=True)
                    pending, pending_samples = [], 0
                rate_hz = frame.sample_rate
                resampler = soxr.ResampleStream(rate_hz, SAMPLE_RATE_HZ, 1, dtype="float32")
            mono = _to_mono(frame)
            pending.append(mono)
            pending_samples += mono.size
            if resampler is not None and pending_samples >= block_s * rate_hz:
                yield from _resample(resampler, pending, last=False)
                pending, pending_samples = [], 0
    except av.FFmpegError as exc:
        raise CorruptAudioError(f"{name}: the audio data is damaged ({exc})") from exc
    except OSError as exc:
        raise TransientAudioError(f"{name}: reading failed: {exc}") from exc
    if resampler is not None:
        yield from _resample(resampler, pending, last=True)


def _resample(
    resampler: soxr.ResampleStream, pending: list[FloatArray], last: bool
) -> Iterator[FloatArray]:
    samples = np.concatenate(pending) if pending else np.zeros(0, dtype=np.float32)
    out = resampler.resample_chunk(samples, last=last)
    if out.size:
        yield np.ascontiguousarray(out, dtype=np.float32).reshape(-1)


def _to_mono(frame: av.AudioFrame) -> FloatArray:
    """Average the channels of one decoded frame, whatever its sample format."""
    data = frame.to_ndarray()
    channels = frame.layout.nb_channels
    fmt = frame.format
    # Per channel views: rows of a planar frame, strided columns of an interleaved one.
    per_channel = data if fmt.is_planar else data.reshape(-1, channels).T
    mono: FloatArray = per_channel[0].astype(np.float32)
    for channel in per_channel[1:]:
        mono += channel
    name = fmt.name.rstrip("p")
    if name == "u8":
        mono -= np.float32(128.0 * channels)
    scale = _INT_SCALE.get(name, 1.0) * channels
    if scale != 1.0:
        mono *= np.float32(1.0 / scale)
    return mono


def _check_wav_length(path: Path) -> None:
    """A WAV's data chunk announces its size; FFmpeg quietly trims it to what is there."""
    with path.open("rb") as f:
        header = f.read(4096)
    if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return
    offset = 12
    while offset + 8 <= len(header):
        chunk_id, size = (
            header[offset : offset + 4],
            int.from_bytes(header[offset + 4 : offset + 8], "little"),
        )
        if chunk_id == b"data":
            available = path.stat().st_size - (offset + 8)
            # 0 and 0xFFFFFFFF mean "unknown" (written while streaming); trust the file then.
            if 0 < size < 0xFFFFFFFF and available < size * _TRUNCATION_TOLERANCE:
                raise TruncatedAudioError(
                    f"{path.name}: holds {available} of the {size} bytes of audio its header "
                    "announces; the upload was probably interrupted"
                )
            return
        offset += 8 + size + (size & 1)


def _declared_duration_s(
    container: av.container.InputContainer, stream: av.AudioStream
) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def probe_duration_s(path: Path) -> float | None:
    """The duration the file's header announces, without decoding; None if unknown/unreadable."""
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.audio:
                return None
            return _declared_duration_s(container, container.streams.audio[0])
    except (av.FFmpegError, OSError):
        return None
