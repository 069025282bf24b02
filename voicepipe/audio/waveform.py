"""A recording's waveform for its page: the lowest and highest sample of each of about a thousand
columns, gathered while the analysis decodes (the page never decodes audio), packed small for
the database."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voicepipe.audio.decode import FloatArray

COLUMNS = 1000  # enough for a page 1,200 px wide, and 4 KB packed
# Peaks are kept per 10 ms of 16 kHz audio while decoding (a few numbers per 10 ms, as the
# analysis keeps), then merged into columns: a recording shorter than 10 s gets fewer columns.
BIN_SAMPLES = 160
_PACK_SCALE = 32767.0
_PACKED = np.dtype("<i2")  # (min, max) per column, little-endian int16


@dataclass(frozen=True, eq=False)
class Waveform:
    """Per column, the lowest and highest sample, in [-1, 1]."""

    mins: FloatArray
    maxs: FloatArray

    def __eq__(self, other: object) -> bool:  # by value: arrays have no truth value of their own
        if not isinstance(other, Waveform):
            return NotImplemented
        return bool(np.array_equal(self.mins, other.mins) and np.array_equal(self.maxs, other.maxs))

    __hash__ = None  # type: ignore[assignment]  # mutable arrays: not hashable

    @property
    def columns(self) -> int:
        return int(self.mins.size)

    def encoded(self) -> bytes:
        pairs = np.stack([self.mins, self.maxs], axis=1) * _PACK_SCALE
        return np.clip(np.round(pairs), -_PACK_SCALE, _PACK_SCALE).astype(_PACKED).tobytes()

    @classmethod
    def decoded(cls, data: bytes) -> Waveform:
        pairs = np.frombuffer(data, dtype=_PACKED).reshape(-1, 2).astype(np.float32)
        pairs /= np.float32(_PACK_SCALE)
        return cls(mins=np.ascontiguousarray(pairs[:, 0]), maxs=np.ascontiguousarray(pairs[:, 1]))


def peaks(samples: npt.NDArray[np.floating], columns: int = COLUMNS) -> Waveform:
    """The waveform of a whole signal, `columns` wide (fewer if it has fewer samples); a
    two-dimensional signal (frames, channels) is mixed down to mono first."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    mono = np.asarray(mono, dtype=np.float32)
    return _merged(mono, mono, columns)


class PeakCollector:
    """The peaks of a signal that streams past in blocks (stream_mono_16k's), in bounded memory."""

    def __init__(self, bin_samples: int = BIN_SAMPLES) -> None:
        self._bin = bin_samples
        self._mins: list[FloatArray] = []
        self._maxs: list[FloatArray] = []
        # samples short of a whole bin, kept for the next block
        self._rest = np.zeros(0, dtype=np.float32)

    def push(self, block: FloatArray) -> None:
        samples = np.concatenate([self._rest, block]) if self._rest.size else block
        whole = samples.size // self._bin * self._bin
        if whole:
            bins = samples[:whole].reshape(-1, self._bin)
            self._mins.append(bins.min(axis=1))
            self._maxs.append(bins.max(axis=1))
        self._rest = np.array(samples[whole:], dtype=np.float32)

    def waveform(self, columns: int = COLUMNS) -> Waveform:
        mins, maxs = list(self._mins), list(self._maxs)
        if self._rest.size:
            mins.append(self._rest.min(keepdims=True))
            maxs.append(self._rest.max(keepdims=True))
        if not mins:
            return Waveform(np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32))
        return _merged(np.concatenate(mins), np.concatenate(maxs), columns)


def _merged(mins: FloatArray, maxs: FloatArray, columns: int) -> Waveform:
    """Bins merged into `columns` runs of (nearly) equal length."""
    n = mins.size
    if n == 0:
        return Waveform(np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32))
    count = max(1, min(columns, n))
    starts = (np.arange(count, dtype=np.int64) * n) // count  # strictly increasing: n >= count
    return Waveform(
        mins=np.minimum.reduceat(mins, starts).astype(np.float32),
        maxs=np.maximum.reduceat(maxs, starts).astype(np.float32),
    )
