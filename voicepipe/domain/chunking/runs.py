"""Run-length helpers for boolean frame masks (speech = True)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


def runs_of(mask: BoolArray) -> list[tuple[int, int]]:
    """[start, end) frame ranges where mask is True, in order."""
    starts, ends = run_bounds(mask)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def run_bounds(mask: BoolArray) -> tuple[IntArray, IntArray]:
    padded = np.concatenate([[False], mask.astype(np.bool_), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[0::2].astype(np.int64), edges[1::2].astype(np.int64)


def keep_runs_touching(mask: BoolArray, seeds: BoolArray) -> BoolArray:
    """Keep the runs of mask that contain at least one seed frame (hysteresis)."""
    starts, ends = run_bounds(mask)
    out = np.zeros_like(mask, dtype=np.bool_)
    seed_positions = np.flatnonzero(seeds)
    if starts.size == 0 or seed_positions.size == 0:
        return out
    # The first seed at or after each run's start decides whether the run holds a seed.
    first = np.searchsorted(seed_positions, starts)
    found = first < seed_positions.size
    holds_seed = np.zeros(starts.size, dtype=np.bool_)
    holds_seed[found] = seed_positions[first[found]] < ends[found]
    for start, end in zip(starts[holds_seed], ends[holds_seed], strict=True):
        out[start:end] = True
    return out


def fill_short_gaps(mask: BoolArray, max_gap_frames: int) -> BoolArray:
    """Fill False gaps shorter than max_gap_frames that lie between two True runs."""
    starts, ends = run_bounds(mask)
    out = mask.copy()
    for gap_start, gap_end in zip(ends[:-1], starts[1:], strict=True):
        if gap_end - gap_start < max_gap_frames:
            out[gap_start:gap_end] = True
    return out


def drop_short_runs(mask: BoolArray, min_frames: int) -> BoolArray:
    """Remove True runs shorter than min_frames (clicks, not words)."""
    starts, ends = run_bounds(mask)
    out = mask.copy()
    for start, end in zip(starts, ends, strict=True):
        if end - start < min_frames:
            out[start:end] = False
    return out


def grow_runs(mask: BoolArray, frames: int) -> BoolArray:
    """Extend every True run by `frames` on both sides (within the mask's length)."""
    if frames <= 0:
        return mask.copy()
    starts, ends = run_bounds(mask)
    out = mask.copy()
    for start, end in zip(starts, ends, strict=True):
        out[max(0, start - frames) : end + frames] = True
    return out
