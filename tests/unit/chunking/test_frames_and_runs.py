"""Frame streaming is block-size independent; run helpers do what their names say."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from voicepipe.domain.chunking import FrameStream
from voicepipe.domain.chunking.frames import FRAME_SAMPLES, HOP_SAMPLES
from voicepipe.domain.chunking.runs import (
    drop_short_runs,
    fill_short_gaps,
    grow_runs,
    keep_runs_touching,
    runs_of,
)

PROPERTY = settings(derandomize=True, deadline=None, max_examples=60, database=None)


def _frames(samples: np.ndarray, blocks: list[int]) -> np.ndarray:
    stream = FrameStream()
    out, start = [], 0
    for size in blocks:
        out.append(stream.push(samples[start : start + size]))
        start += size
    out.append(stream.push(samples[start:]))
    out.append(stream.finish())
    return np.concatenate(out)


@PROPERTY
@given(
    n=st.integers(min_value=1, max_value=5000),
    blocks=st.lists(st.integers(min_value=0, max_value=1500), max_size=8),
)
def test_frames_do_not_depend_on_block_sizes(n: int, blocks: list[int]) -> None:
    samples = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    whole = _frames(samples, [])
    pieces = _frames(samples, blocks)
    assert whole.shape == (-(-n // HOP_SAMPLES), FRAME_SAMPLES)
    assert np.array_equal(whole, pieces)


def test_frame_k_is_centred_on_its_hop() -> None:
    samples = np.zeros(HOP_SAMPLES * 10, dtype=np.float32)
    samples[HOP_SAMPLES * 4 + HOP_SAMPLES // 2] = 1.0  # middle of hop 4
    frames = _frames(samples, [])
    centre = FRAME_SAMPLES // 2
    assert frames[4, centre] == 1.0
    assert frames[4].sum() == 1.0


def test_run_helpers() -> None:
    mask = np.array([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0], dtype=bool)
    assert runs_of(mask) == [(1, 3), (5, 6), (10, 13)]
    assert runs_of(fill_short_gaps(mask, 3)) == [(1, 6), (10, 13)]
    assert runs_of(drop_short_runs(mask, 2)) == [(1, 3), (10, 13)]
    assert runs_of(grow_runs(mask, 1)) == [(0, 7), (9, 14)]
    seeds = np.zeros_like(mask)
    seeds[11] = True
    assert runs_of(keep_runs_touching(mask, seeds)) == [(10, 13)]
    assert not keep_runs_touching(mask, np.zeros_like(mask)).any()
