"""Choose chunk boundaries: the longest pause in each allowed window, a forced cut only if none."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from voicepipe.domain.chunking.frames import FRAME_S, FloatArray
from voicepipe.domain.chunking.runs import BoolArray, runs_of

_QUIET_SMOOTHING_FRAMES = 5  # judge "quietest" over 50 ms, not one noisy frame
# Speech fades out more slowly than it starts (decays, trailing fricatives sink into the
# noise first), so the chunk before a pause gets the larger share of it.
PAUSE_SHARE_BEFORE = 0.6


class ChunkingConfig(BaseModel):
    """Chunk length bounds (padding included) and the silence kept at chunk edges."""

    model_config = ConfigDict(frozen=True)

    min_s: float = Field(1.0, gt=0)
    max_s: float = Field(15.0, gt=0)
    pad_s: float = Field(0.25, ge=0)

    @model_validator(mode="after")
    def _bounds_make_sense(self) -> ChunkingConfig:
        if self.max_s < self.min_s + 2 * FRAME_S:
            raise ValueError(f"max_s ({self.max_s}) must exceed min_s ({self.min_s})")
        return self


@dataclass(frozen=True)
class Chunk:
    """One chunk in seconds from the recording's start; forced_cut: an edge cuts through speech."""

    start_s: float
    end_s: float
    forced_cut: bool = False

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class ChunkPlan:
    """Where to cut one recording, and how much speech was found in it."""

    chunks: tuple[Chunk, ...]
    duration_s: float
    speech_s: float

    @property
    def forced_cuts(self) -> int:
        return sum(1 for chunk in self.chunks if chunk.forced_cut)


def plan_chunks(
    speech: BoolArray, level_db: FloatArray, duration_s: float, config: ChunkingConfig
) -> ChunkPlan:
    """Cut a recording whose frames are classified by `speech` into chunks (deterministic)."""
    segments = [list(run) for run in runs_of(speech)]
    speech_s = sum(end - start for start, end in segments) * FRAME_S
    if not segments:
        return ChunkPlan(chunks=(), duration_s=duration_s, speech_s=0.0)
    planner = _Planner(segments, len(speech), level_db, config)
    frame_chunks = planner.run()
    chunks = tuple(
        Chunk(
            start_s=round(start * FRAME_S, 3),
            end_s=round(min(end * FRAME_S, duration_s), 3),
            forced_cut=forced,
        )
        for start, end, forced in frame_chunks
    )
    return ChunkPlan(chunks=chunks, duration_s=duration_s, speech_s=round(speech_s, 3))


class _Planner:
    """Greedy over speech segments, guided by which cuts still leave a cuttable remainder.

    A chunk is a run of whole segments [i..j]; it may grow its padding into the silence up to
    the middle of the neighbouring pauses, so chunks never overlap. feasible[i] says whether
    segments i.. can be cut at pauses alone, so a long pause now does not force a cut later.
    """

    def __init__(
        self, segments: list[list[int]], total: int, level_db: FloatArray, config: ChunkingConfig
    ) -> None:
        self.segs = segments
        self.forced = [False] * (len(segments) - 1)  # per gap between segment k and k+1
        self.total = total
        self.min_f = math.ceil(config.min_s / FRAME_S - 1e-9)
        self.max_f = math.floor(config.max_s / FRAME_S + 1e-9)
        self.pad_f = round(config.pad_s / FRAME_S)
        kernel = np.ones(_QUIET_SMOOTHING_FRAMES) / _QUIET_SMOOTHING_FRAMES
        self.quiet = np.convolve(level_db.astype(np.float64), kernel, mode="same")
        self.feasible = [False] * len(segments) + [True]
        self._refresh_feasible(len(segments) - 1, 0)

    def run(self) -> list[tuple[int, int, bool]]:
        out: list[tuple[int, int, bool]] = []
        i = 0
        while i < len(self.segs):
            options = self._options(i)
            last = len(self.segs) - 1
            roomy = [o for o in options if not self._cramped(i, *o)]
            if options:
                # The longest pause wins (the recording's end counts as a pause as long as
                # its trailing silence), preferring cuts that keep full padding and leave a
                # remainder that can itself be cut at pauses.
                pool = (
                    [o for o in roomy if self.feasible[o[0] + 1]]
                    or [o for o in options if self.feasible[o[0] + 1]]
                    or options
                )
                j, bounds = max(pool, key=lambda o: (self._gap(o[0]), -o[0]))
            elif self._force_cut(i):
                continue
            else:
                # Degenerate bounds (min_s close to max_s): keep the segment whole and short.
                j, bounds = (
                    i,
                    self._bounds(i, i, allow_short=True)
                    or (
                        self.segs[i][0],
                        self.segs[i][1],
                    ),
                )
            forced = (i > 0 and self.forced[i - 1]) or (j < last and self.forced[j])
            out.append((bounds[0], bounds[1], forced))
            i = j + 1
        return out

    def _gap(self, k: int) -> int:
        """Length of the pause after segment k (the trailing silence after the last one)."""
        if k == len(self.segs) - 1:
            return self.total - self.segs[k][1]
        return self.segs[k + 1][0] - self.segs[k][1]

    def _mid(self, k: int) -> int:
        """Where pause k is split between its two chunks."""
        end, start = self.segs[k][1], self.segs[k + 1][0]
        return end + int((start - end) * PAUSE_SHARE_BEFORE)

    def _options(self, i: int) -> list[tuple[int, tuple[int, int]]]:
        found = []
        for j in range(i, len(self.segs)):
            if self.segs[j][1] - self.segs[i][0] > self.max_f:
                break
            bounds = self._bounds(i, j)
            if bounds is not None:
                found.append((j, bounds))
        return found

    def _cramped(self, i: int, j: int, bounds: tuple[int, int]) -> bool:
        """True when the chunk had to give up padding it had room for, to fit max_s."""
        left_limit = 0 if i == 0 else self._mid(i - 1)
        right_limit = self.total if j == len(self.segs) - 1 else self._mid(j)
        want_left = min(self.pad_f, self.segs[i][0] - left_limit)
        want_right = min(self.pad_f, right_limit - self.segs[j][1])
        return bounds[1] - bounds[0] < self.segs[j][1] - self.segs[i][0] + want_left + want_right

    def _bounds(self, i: int, j: int, allow_short: bool = False) -> tuple[int, int] | None:
        """Padded [start, end) of a chunk of segments i..j, or None if its length cannot fit."""
        left_limit = 0 if i == 0 else self._mid(i - 1)
        right_limit = self.total if j == len(self.segs) - 1 else self._mid(j)
        start, end = self.segs[i][0], self.segs[j][1]
        room_left, room_right = start - left_limit, right_limit - end
        pad_left, pad_right = min(self.pad_f, room_left), min(self.pad_f, room_right)
        length = end - start + pad_left + pad_right
        if end - start > self.max_f:
            return None
        if length > self.max_f:
            # Speech fits but padding does not: give up padding rather than cut inside speech.
            excess = length - self.max_f
            less_left = min(pad_left, (excess + 1) // 2)
            less_right = min(pad_right, excess - less_left)
            less_left = excess - less_right
            pad_left, pad_right = pad_left - less_left, pad_right - less_right
            length = self.max_f
        if length < self.min_f:
            # Short chunk: take more of the surrounding silence, evenly while both sides have it.
            missing = self.min_f - length
            more_left = min(room_left - pad_left, (missing + 1) // 2)
            more_right = min(room_right - pad_right, missing - more_left)
            more_left = min(room_left - pad_left, missing - more_right)
            pad_left, pad_right = pad_left + more_left, pad_right + more_right
            length = end - start + pad_left + pad_right
            whole_recording = i == 0 and j == len(self.segs) - 1
            if length < self.min_f and not (whole_recording or allow_short):
                return None
        return start - pad_left, end + pad_right

    def _refresh_feasible(self, high: int, low: int) -> None:
        for i in range(high, low - 1, -1):
            self.feasible[i] = any(self.feasible[j + 1] for j, _ in self._options(i))

    def _force_cut(self, i: int) -> bool:
        """No pause fits: split the speech at its quietest point inside the allowed window."""
        left_limit = 0 if i == 0 else self._mid(i - 1)
        start = self.segs[i][0] - min(self.pad_f, self.segs[i][0] - left_limit)
        low, high = start + self.min_f, start + self.max_f
        best: tuple[float, int, int] | None = None
        for m in range(i, len(self.segs)):
            seg_start, seg_end = self.segs[m]
            if seg_start >= high:
                break
            lo, hi = max(low, seg_start + 1), min(high, seg_end - 1)
            if lo > hi:
                continue
            f = lo + int(np.argmin(self.quiet[lo : hi + 1]))
            if best is None or self.quiet[f] < best[0]:
                best = (float(self.quiet[f]), f, m)
        if best is None:
            return False
        _, cut, m = best
        seg_end = self.segs[m][1]
        self.segs[m][1] = cut
        self.segs.insert(m + 1, [cut, seg_end])
        self.forced.insert(m, True)
        self.feasible.insert(m + 1, False)
        self._refresh_feasible(m + 1, i)
        return True
