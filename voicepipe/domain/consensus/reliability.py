"""Contributor accuracy estimated across many chunks (EM in the manner of Dawid & Skene)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from voicepipe.domain.consensus.engine import (
    DEFAULT_ACCURACY,
    PreparedChunk,
    Transcription,
    decide_chunk,
    prepare,
)


@dataclass(frozen=True)
class ContributorAccuracy:
    """Estimated share of word slots a contributor gets right, and the evidence behind it."""

    accuracy: float
    slots: float


def estimate_accuracy(
    chunks: Iterable[Sequence[Transcription]],
    prior_accuracy: float = DEFAULT_ACCURACY,
    prior_slots: float = 20.0,
    iterations: int = 6,
) -> dict[str, ContributorAccuracy]:
    """Alternate consensus and accuracy until they agree; for the periodic recalculation job.

    Each round votes every chunk with the current accuracies, then credits each contributor
    with the posterior probability that each of their entries is right. Spam counts as every
    slot wrong. The prior (prior_slots pseudo-slots at prior_accuracy) keeps newcomers near
    the default until they have done real work.
    """
    prepared = [prepare(chunk) for chunk in chunks]
    return estimate_accuracy_prepared(prepared, prior_accuracy, prior_slots, iterations)


def estimate_accuracy_prepared(
    prepared: Sequence[PreparedChunk],
    prior_accuracy: float = DEFAULT_ACCURACY,
    prior_slots: float = 20.0,
    iterations: int = 6,
) -> dict[str, ContributorAccuracy]:
    accuracy: dict[str, float] = {}
    result: dict[str, ContributorAccuracy] = {}
    for _ in range(iterations):
        right: dict[str, float] = {}
        total: dict[str, float] = {}
        for chunk in prepared:
            _credit(chunk, accuracy, right, total)
        result = {
            cid: ContributorAccuracy(
                accuracy=(prior_slots * prior_accuracy + right[cid]) / (prior_slots + total[cid]),
                slots=total[cid],
            )
            for cid in sorted(total)
        }
        accuracy = {cid: item.accuracy for cid, item in result.items()}
    return result


def _credit(
    chunk: PreparedChunk,
    accuracy: Mapping[str, float],
    right: dict[str, float],
    total: dict[str, float],
) -> None:
    slots = decide_chunk(chunk, accuracy).slots
    for column, voter in enumerate(chunk.voters):
        cid = voter.contributor_id
        for slot, outcome in zip(chunk.network, slots, strict=True):
            entry = slot[column]
            key = None if entry is None else entry.key
            right[cid] = right.get(cid, 0.0) + outcome.posteriors.get(key, 0.0)
        total[cid] = total.get(cid, 0.0) + len(slots)
    for spammer, _reason in chunk.spam:
        cid = spammer.contributor_id
        right.setdefault(cid, 0.0)
        total[cid] = total.get(cid, 0.0) + max(1, len(slots))
