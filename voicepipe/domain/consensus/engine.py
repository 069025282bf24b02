"""Consensus for one chunk: clean, drop spam, align in a fixed order, vote, score confidence."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from voicepipe.domain.consensus.align import Network, align
from voicepipe.domain.consensus.confidence import calibrated_confidence
from voicepipe.domain.consensus.metrics import word_edits
from voicepipe.domain.consensus.normalize import to_words
from voicepipe.domain.consensus.policy import Decision, NeedsMorePolicy
from voicepipe.domain.consensus.spam import spam_reasons
from voicepipe.domain.consensus.vote import SlotVote, Weights, vote

DEFAULT_ACCURACY = 0.85  # per-word accuracy assumed for a contributor with no history


@dataclass(frozen=True)
class Transcription:
    contributor_id: str
    text: str


@dataclass(frozen=True)
class PreparedChunk:
    """Everything about a chunk that does not depend on contributor weights (reused by EM)."""

    voters: tuple[Transcription, ...]  # non-spam, one per contributor, in alignment order
    spam: tuple[tuple[Transcription, str], ...]  # with the reason
    network: Network
    submitted: int


@dataclass(frozen=True)
class ChunkConsensus:
    """The consensus of one chunk and how far to trust it."""

    text: str  # readable: the most common spelling, case and punctuation of each word
    normalized_text: str
    confidence: float  # calibrated P(normalized_text is exactly right)
    model_log_probability: float  # the voting model's own log P(exact), before calibration
    decision: Decision
    spam: tuple[tuple[str, str], ...]  # (contributor_id, reason)
    slots: tuple[SlotVote, ...]


def prepare(transcriptions: Sequence[Transcription]) -> PreparedChunk:
    """Deduplicate by contributor, set spam aside, align the rest in a canonical order.

    The order (closest to everyone else first, then by content) makes the result the same
    whatever order the transcriptions arrive in.
    """
    by_contributor: dict[str, Transcription] = {}
    for item in sorted(transcriptions, key=lambda t: (t.contributor_id, t.text)):
        by_contributor.setdefault(item.contributor_id, item)
    unique = list(by_contributor.values())
    words = [to_words(t.text) for t in unique]
    keys = [tuple(w.key for w in ws) for ws in words]
    reasons = spam_reasons(keys)
    kept = [i for i, reason in enumerate(reasons) if reason is None]
    spread = {i: sum(word_edits(keys[i], keys[j]) for j in kept if j != i) for i in kept}
    order = sorted(kept, key=lambda i: (spread[i], keys[i], unique[i].contributor_id))
    return PreparedChunk(
        voters=tuple(unique[i] for i in order),
        spam=tuple((unique[i], reason) for i, reason in enumerate(reasons) if reason is not None),
        network=align([words[i] for i in order]),
        submitted=len(transcriptions),
    )


def decide_chunk(
    chunk: PreparedChunk,
    accuracy: Mapping[str, float] | None = None,
    policy: NeedsMorePolicy | None = None,
) -> ChunkConsensus:
    """Vote a prepared chunk with per-contributor accuracies (unknown: DEFAULT_ACCURACY)."""
    accuracy = accuracy or {}
    policy = policy or NeedsMorePolicy()
    weights = [
        Weights.for_accuracy(accuracy.get(t.contributor_id, DEFAULT_ACCURACY)) for t in chunk.voters
    ]
    slots = vote(chunk.network, weights)
    log_p_exact = sum(math.log(max(s.winner_posterior, 1e-300)) for s in slots)
    confidence = calibrated_confidence(log_p_exact, len(chunk.voters))
    chosen = [s for s in slots if s.winner is not None]
    return ChunkConsensus(
        text=" ".join(s.display or s.winner or "" for s in chosen),
        normalized_text=" ".join(s.winner or "" for s in chosen),
        confidence=round(confidence, 6),
        model_log_probability=log_p_exact,
        decision=policy.decide(confidence, chunk.submitted),
        spam=tuple((t.contributor_id, reason) for t, reason in chunk.spam),
        slots=tuple(slots),
    )


def chunk_consensus(
    transcriptions: Sequence[Transcription],
    accuracy: Mapping[str, float] | None = None,
    policy: NeedsMorePolicy | None = None,
) -> ChunkConsensus:
    """Consensus transcript, confidence and next step for one chunk's transcriptions."""
    return decide_chunk(prepare(transcriptions), accuracy, policy)
