"""Word error counts between transcriptions (for ordering, spam checks and evaluation)."""

from __future__ import annotations

from collections.abc import Sequence


def word_edits(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Substitutions + deletions + insertions turning `reference` into `hypothesis`."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def word_error_rate(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    """Edits per reference word (1.0 for any hypothesis of an empty reference but an empty one)."""
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return word_edits(reference, hypothesis) / len(reference)


def similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """1 - edits / longer length: 1.0 identical, 0.0 nothing in common (or one is empty)."""
    longest = max(len(a), len(b))
    if longest == 0:
        return 1.0
    return 1.0 - word_edits(a, b) / longest
