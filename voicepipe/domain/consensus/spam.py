"""Spot submissions that must not vote: empty, garbage, or unrelated to what others heard."""

from __future__ import annotations

from collections.abc import Sequence

from voicepipe.domain.consensus.metrics import similarity

# An honest transcription at 10-20 % word errors keeps ~0.6-0.9 similarity with other honest
# ones; spam (random words, another chunk's text, key mashing) stays near 0.
OFF_TOPIC_SIMILARITY = 0.25
COHERENT_CROWD_SIMILARITY = 0.5
_MAX_WORD_CHARS = 30


def spam_reasons(keys: Sequence[Sequence[str]]) -> list[str | None]:
    """Per transcription (as word keys): why it is spam, or None when it may vote.

    Off-topic needs a reference, so it is only judged when at least two other transcriptions
    agree with each other; otherwise a lone dissenter might be the one who heard right.
    """
    reasons: list[str | None] = []
    n = len(keys)
    sims = [[similarity(keys[i], keys[j]) if i != j else 1.0 for j in range(n)] for i in range(n)]
    # When most people heard nothing, an empty transcription is the answer, not spam.
    empty_is_spam = sum(1 for words in keys if not words) * 2 < n
    for i, words in enumerate(keys):
        if not words:
            reasons.append("empty" if empty_is_spam else None)
        elif any(len(word) > _MAX_WORD_CHARS for word in words):
            reasons.append("garbage")
        elif _off_topic(i, sims, keys):
            reasons.append("off-topic")
        else:
            reasons.append(None)
    return reasons


def _off_topic(i: int, sims: list[list[float]], keys: Sequence[Sequence[str]]) -> bool:
    others = [j for j in range(len(keys)) if j != i and keys[j]]
    if len(others) < 2:
        return False
    support = sum(sims[i][j] for j in others) / len(others)
    coherent = any(sims[j][k] >= COHERENT_CROWD_SIMILARITY for j in others for k in others if j < k)
    return support < OFF_TOPIC_SIMILARITY and coherent
