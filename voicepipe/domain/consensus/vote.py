"""Weighted voting per slot of a word network, with each candidate's posterior probability."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from voicepipe.domain.consensus.align import Network
from voicepipe.domain.consensus.normalize import Word

# Model: a transcriber of accuracy r writes the true entry with probability r; otherwise a
# wrong one, which is one particular word with probability ERROR_SHARE_WORD (errors scatter)
# or "no word" with probability ERROR_SHARE_NONE (skipping a word is a common error).
ERROR_SHARE_WORD = 0.05
ERROR_SHARE_NONE = 0.3
# Prior weight of "the truth is a word nobody wrote", against a candidate nobody voted for.
UNSEEN_TRUTH_WEIGHT = 1.0
_ACCURACY_RANGE = (0.01, 0.995)


@dataclass(frozen=True)
class SlotVote:
    """The outcome of one slot: winning entry (None = no word) and candidate posteriors."""

    winner: str | None
    display: str | None
    posteriors: dict[str | None, float]

    @property
    def winner_posterior(self) -> float:
        return self.posteriors[self.winner]


@dataclass(frozen=True)
class Weights:
    """Log-likelihood ratio a vote adds to its candidate, for a word and for "no word"."""

    word: float
    none: float

    @classmethod
    def for_accuracy(cls, accuracy: float) -> Weights:
        r = min(max(accuracy, _ACCURACY_RANGE[0]), _ACCURACY_RANGE[1])
        # Worse than chance adds nothing rather than voting against its own word.
        word = max(0.0, math.log(r / ((1 - r) * ERROR_SHARE_WORD)))
        none = max(0.0, math.log(r / ((1 - r) * ERROR_SHARE_NONE)))
        return cls(word=word, none=none)


def vote(network: Network, weights: Sequence[Weights]) -> list[SlotVote]:
    """Vote every slot; weights[h] belongs to the transcription in network column h."""
    return [_vote_slot(slot, weights) for slot in network]


def _vote_slot(slot: Sequence[Word | None], weights: Sequence[Weights]) -> SlotVote:
    score: dict[str | None, float] = {}
    voters: dict[str | None, int] = {}
    for entry, weight in zip(slot, weights, strict=True):
        key = None if entry is None else entry.key
        add = weight.none if key is None else weight.word
        score[key] = score.get(key, 0.0) + add
        voters[key] = voters.get(key, 0) + 1
    top = max(score.values())
    mass = {key: math.exp(value - top) for key, value in score.items()}
    total = sum(mass.values()) + UNSEEN_TRUTH_WEIGHT * math.exp(-top)
    posteriors = {key: value / total for key, value in mass.items()}
    # Ties: more voters, then a word over no word, then alphabetical, never input order.
    winner = max(score, key=lambda k: (round(score[k], 9), voters[k], k is not None, k or ""))
    return SlotVote(winner=winner, display=_display(slot, weights, winner), posteriors=posteriors)


def _display(
    slot: Sequence[Word | None], weights: Sequence[Weights], winner: str | None
) -> str | None:
    """The most weighted way the winning word was written (case, inner punctuation)."""
    if winner is None:
        return None
    forms: dict[str, float] = {}
    for entry, weight in zip(slot, weights, strict=True):
        if entry is not None and entry.key == winner:
            forms[entry.display] = forms.get(entry.display, 0.0) + weight.word + 1e-6
    return max(forms, key=lambda form: (round(forms[form], 9), form))
