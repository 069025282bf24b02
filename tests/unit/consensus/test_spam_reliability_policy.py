"""Spam does not sway results; reliability is learnt across chunks; the needs-more policy."""

from __future__ import annotations

import pytest

from tests.support.crowd import crowd_of, simulate
from tests.support.crowd_eval import auroc, run
from voicepipe.domain.consensus import (
    Decision,
    NeedsMorePolicy,
    Transcription,
    chunk_consensus,
    estimate_accuracy,
)

HONEST = [
    Transcription("a", "the train leaves at seven tomorrow morning"),
    Transcription("b", "the train leaves at seven tomorrow morning"),
    Transcription("c", "the train leave at seven tomorrow morning"),
]


@pytest.mark.parametrize(
    ("spam", "reason"),
    [
        ("", "empty"),
        ("   ...  ", "empty"),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "garbage"),
        ("asdf jkl qwerty", "off-topic"),
        ("please bring the red bags from the store", "off-topic"),
    ],
)
def test_spam_is_flagged_and_changes_nothing(spam: str, reason: str) -> None:
    clean = chunk_consensus(HONEST)
    spammed = chunk_consensus([*HONEST, Transcription("s", spam)])
    assert spammed.spam == (("s", reason),)
    assert spammed.normalized_text == clean.normalized_text
    assert spammed.confidence == clean.confidence


def test_a_chunk_most_people_found_empty_is_empty_with_confidence() -> None:
    result = chunk_consensus(
        [Transcription("a", ""), Transcription("b", " ... "), Transcription("c", "hm")]
    )
    assert result.normalized_text == ""
    assert result.spam == ()
    assert result.confidence > 0.5


def test_a_lone_dissenter_is_not_called_spam_without_a_coherent_crowd() -> None:
    result = chunk_consensus(
        [Transcription("a", "red fish"), Transcription("b", "blue whale song")]
    )
    assert result.spam == ()


def test_reliability_ranks_careful_careless_and_spamming_contributors() -> None:
    chunks = simulate(seed=5, chunks=150, per_chunk=3, spammers_per_chunk=1, crowd_size=16)
    accuracy = estimate_accuracy(
        [[Transcription(c, t) for c, t in chunk.transcriptions] for chunk in chunks]
    )
    crowd = {c.contributor_id: c for c in crowd_of(seed=5, crowd_size=16)}
    honest = sorted(
        (cid for cid in accuracy if crowd[cid].spam_style is None),
        key=lambda cid: crowd[cid].word_error_rate,
    )
    spammers = [cid for cid in accuracy if crowd[cid].spam_style is not None]
    assert max(accuracy[s].accuracy for s in spammers) < 0.2
    assert min(accuracy[h].accuracy for h in honest) > 0.7
    best, worst = honest[:4], honest[-4:]
    assert min(accuracy[h].accuracy for h in best) > max(accuracy[h].accuracy for h in worst)


def test_consensus_beats_single_transcribers_and_confidence_ranks_chunks() -> None:
    for per_chunk, target in ((3, 0.3), (5, 0.1)):
        outcomes, single_wer = run(simulate(seed=11, chunks=200, per_chunk=per_chunk))
        consensus_wer = sum(o.wer for o in outcomes) / len(outcomes)
        assert consensus_wer <= target * single_wer, (per_chunk, consensus_wer, single_wer)
    outcomes, _ = run(simulate(seed=12, chunks=300, per_chunk=3))
    assert auroc([o.confidence for o in outcomes], [o.exact for o in outcomes]) > 0.8


def test_needs_more_policy() -> None:
    policy = NeedsMorePolicy(start_count=3, confidence_threshold=0.9, max_count=7)
    assert policy.decide(0.99, 2) is Decision.NEED_MORE
    assert policy.decide(0.95, 3) is Decision.ENOUGH
    assert policy.decide(0.5, 3) is Decision.NEED_MORE
    assert policy.decide(0.5, 6) is Decision.NEED_MORE
    assert policy.decide(0.5, 7) is Decision.EXPERT_REVIEW
    with pytest.raises(ValueError):
        NeedsMorePolicy(start_count=5, max_count=3)


def test_disagreement_asks_for_more_and_agreement_does_not() -> None:
    agreed = chunk_consensus([*HONEST[:2], Transcription("c", HONEST[0].text)])
    assert agreed.decision is Decision.ENOUGH
    split = chunk_consensus(
        [
            Transcription("a", "the train leaves at seven"),
            Transcription("b", "the rain leaves at eleven"),
            Transcription("c", "a train leaving at heaven"),
        ]
    )
    assert split.decision is Decision.NEED_MORE
    assert split.confidence < 0.5
