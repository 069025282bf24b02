"""Cut a stream of 16 kHz mono samples into overlapping analysis frames, block by block."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE_HZ = 16_000
HOP_SAMPLES = 160  # 10 ms: the time resolution of every decision
FRAME_SAMPLES = 400  # 25 ms analysis window centred on its hop
FRAME_S = HOP_SAMPLES / SAMPLE_RATE_HZ

FloatArray = npt.NDArray[np.float32]


class FrameStream:
    """Turns arbitrary sample blocks into frames; frame k describes samples [k*hop, (k+1)*hop).

    Only the last window's worth of samples is kept between blocks, so memory does not grow
    with the recording.
    """

    def __init__(self) -> None:
        # Leading zeros centre frame 0's window on its hop.
        lead = (FRAME_SAMPLES - HOP_SAMPLES) // 2
        self._buffer: FloatArray = np.zeros(lead, dtype=np.float32)
        self._samples_seen = 0
        self._frames_emitted = 0

    @property
    def samples_seen(self) -> int:
        return self._samples_seen

    def push(self, block: npt.ArrayLike) -> FloatArray:
        """Add samples; return the frames (n, FRAME_SAMPLES) that are now complete."""
        samples = np.asarray(block, dtype=np.float32).reshape(-1)
        self._samples_seen += samples.size
        self._buffer = np.concatenate([self._buffer, samples])
        return self._take_complete()

    def finish(self) -> FloatArray:
        """Zero-pad the end and return the remaining frames so every sample is covered."""
        total_frames = -(-self._samples_seen // HOP_SAMPLES)
        missing = total_frames - self._frames_emitted
        if missing <= 0:
            return np.zeros((0, FRAME_SAMPLES), dtype=np.float32)
        need = (missing - 1) * HOP_SAMPLES + FRAME_SAMPLES
        pad = max(0, need - self._buffer.size)
        self._buffer = np.concatenate([self._buffer, np.zeros(pad, dtype=np.float32)])
        frames = self._take_complete()[:missing]
        self._frames_emitted = total_frames
        return frames

    def _take_complete(self) -> FloatArray:
        if self._buffer.size < FRAME_SAMPLES:
            return np.zeros((0, FRAME_SAMPLES), dtype=np.float32)
        n_frames = (self._buffer.size - FRAME_SAMPLES) // HOP_SAMPLES + 1
        windows = np.lib.stride_tricks.sliding_window_view(self._buffer, FRAME_SAMPLES)
        frames = np.ascontiguousarray(windows[: n_frames * HOP_SAMPLES : HOP_SAMPLES])
        self._buffer = self._buffer[n_frames * HOP_SAMPLES :].copy()
        self._frames_emitted += n_frames
        return frames
