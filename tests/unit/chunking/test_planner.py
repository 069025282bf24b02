"""Cut planning: bounds, coverage, no overlap, longest pause, forced cuts flagged."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from voicepipe.domain.chunking import ChunkingConfig, ChunkPlan, plan_chunks
from voicepipe.domain.chunking.runs import runs_of

PROPERTY = settings(derandomize=True, deadline=None, max_examples=80, database=None)
CONFIG = ChunkingConfig(min_s=1.0, max_s=15.0, pad_s=0.25)


def _layout(segments: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(speech frames, pause frames) pairs -> speech mask and a level track (speech loud)."""
    mask = np.concatenate(
        [np.concatenate([np.zeros(p, bool), np.ones(s, bool)]) for s, p in segments]
        + [np.zeros(30, bool)]
    )
    level = np.where(mask, -20.0, -60.0).astype(np.float32)
    return mask, level


def _plan(mask: np.ndarray, level: np.ndarray, config: ChunkingConfig = CONFIG) -> ChunkPlan:
    return plan_chunks(mask, level, mask.size / 100, config)


def _check_invariants(mask: np.ndarray, plan: ChunkPlan, config: ChunkingConfig) -> None:
    chunks = plan.chunks
    assert chunks, "speech present but no chunk"
    for a, b in itertools.pairwise(chunks):
        assert a.end_s <= b.start_s + 1e-9, "chunks overlap"
    for c in chunks:
        assert c.duration_s <= config.max_s + 1e-9
        frames = mask[round(c.start_s * 100) : round(c.end_s * 100)]
        assert frames.any(), "a chunk holds only silence"
    covered = np.zeros_like(mask)
    for c in chunks:
        covered[round(c.start_s * 100) : round(c.end_s * 100)] = True
    assert covered[mask].all(), "speech outside every chunk"
    boundaries = {round(c.start_s * 100) for c in chunks} | {round(c.end_s * 100) for c in chunks}
    cut_in_speech = [b for b in boundaries if 0 < b < mask.size and mask[b - 1] and mask[b]]
    assert len(cut_in_speech) <= 2 * plan.forced_cuts, "unflagged cut through speech"


segments_strategy = st.lists(
    st.tuples(st.integers(5, 900), st.integers(8, 300)), min_size=1, max_size=25
)


@PROPERTY
@given(segments=segments_strategy)
def test_invariants_hold_for_any_layout(segments: list[tuple[int, int]]) -> None:
    mask, level = _layout(segments)
    plan = _plan(mask, level)
    _check_invariants(mask, plan, CONFIG)
    assert _plan(mask, level) == plan  # deterministic


@PROPERTY
@given(
    segments=st.lists(st.tuples(st.integers(5, 4000), st.integers(0, 60)), min_size=1, max_size=6)
)
def test_invariants_hold_when_speech_outruns_max_length(segments: list[tuple[int, int]]) -> None:
    mask, level = _layout(segments)
    level = level + np.sin(np.arange(level.size) / 7.0).astype(np.float32)  # dips to cut at
    plan = _plan(mask, level)
    _check_invariants(mask, plan, CONFIG)
    longest_run = max((end - start for start, end in runs_of(mask)), default=0)
    if longest_run > CONFIG.max_s * 100:
        assert plan.forced_cuts > 0


@PROPERTY
@given(segments=st.lists(st.tuples(st.integers(30, 400), st.integers(15, 200)), min_size=8))
def test_min_length_holds_when_pauses_allow(segments: list[tuple[int, int]]) -> None:
    mask, level = _layout(segments)
    plan = _plan(mask, level)
    assert plan.forced_cuts == 0
    assert all(c.duration_s >= CONFIG.min_s - 1e-9 for c in plan.chunks)


def test_cuts_at_the_longest_pause_in_the_window() -> None:
    # Speech 0.5-4.5 s, 4.7-8.7 s, 9.6-13.6 s, 13.9-17.9 s; pauses 0.2, 0.9 and 0.3 s.
    mask, level = _layout([(400, 50), (400, 20), (400, 90), (400, 30)])
    plan = _plan(mask, level, ChunkingConfig(min_s=1, max_s=10))
    first_cut = plan.chunks[0].end_s
    assert 8.7 <= first_cut <= 9.6  # the 0.9 s pause, not the 0.2 s one at 4.5 s
    assert plan.chunks[1].start_s >= first_cut
    assert plan.forced_cuts == 0


def test_forced_cut_at_quietest_point_when_no_pause_exists() -> None:
    mask = np.concatenate([np.zeros(50, bool), np.ones(4000, bool), np.zeros(50, bool)])
    level = np.where(mask, -20.0, -60.0).astype(np.float32)
    level[50 + 1200 : 50 + 1203] = -45.0  # a dip at 12.5 s inside the speech
    plan = _plan(mask, level)
    assert plan.forced_cuts >= 1
    assert abs(plan.chunks[0].end_s - 12.51) < 0.05
    assert all(c.duration_s <= 15.0 + 1e-9 for c in plan.chunks)
    assert plan.chunks[0].forced_cut and plan.chunks[1].forced_cut


def test_short_speech_is_padded_to_min_length_from_silence() -> None:
    mask, level = _layout([(30, 500), (300, 500)])
    plan = _plan(mask, level)
    assert [round(c.duration_s, 2) >= 1.0 for c in plan.chunks] == [True, True]
    assert len(plan.chunks) == 2  # the long silence between them is not inside any chunk
    assert plan.chunks[1].start_s - plan.chunks[0].end_s > 3.0


def test_no_speech_gives_no_chunks() -> None:
    mask = np.zeros(500, bool)
    assert _plan(mask, np.full(500, -60.0, np.float32)).chunks == ()
