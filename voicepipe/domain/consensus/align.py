"""ROVER-style multiple alignment of transcriptions into a word transition network."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from voicepipe.domain.consensus.metrics import word_edits
from voicepipe.domain.consensus.normalize import Word

Slot = list[Word | None]  # one entry per transcription; None is "no word here"
Network = list[Slot]

_INSERT_COST = 1.0


def align(transcriptions: Sequence[Sequence[Word]]) -> Network:
    """Align transcriptions one after the other into slots; None marks "no word".

    Each new transcription is aligned to the whole network by dynamic programming: a word
    joins the slot whose words it matches (near-spellings cost less than unrelated words),
    skipping a slot costs less where others skipped it too, and an unmatched word opens a
    new slot. The result depends on the order of `transcriptions`; callers fix that order.
    """
    network: Network = []
    for count, words in enumerate(transcriptions):
        network = _add(network, words, count)
    return network


def _add(network: Network, words: Sequence[Word], count: int) -> Network:
    n_slots, n_words = len(network), len(words)
    keys = [sorted({w.key for w in slot if w is not None}) for slot in network]
    skip = [sum(w is not None for w in slot) / max(1, count) for slot in network]
    # cost[i][j]: best cost of aligning the first i slots with the first j words.
    cost = [[0.0] * (n_words + 1) for _ in range(n_slots + 1)]
    move = [[""] * (n_words + 1) for _ in range(n_slots + 1)]
    for j in range(1, n_words + 1):
        cost[0][j], move[0][j] = cost[0][j - 1] + _INSERT_COST, "ins"
    for i in range(1, n_slots + 1):
        cost[i][0], move[i][0] = cost[i - 1][0] + skip[i - 1], "skip"
        for j in range(1, n_words + 1):
            key = words[j - 1].key
            match = cost[i - 1][j - 1] + min(
                (word_distance(key, other) for other in keys[i - 1]), default=1.0
            )
            skipped = cost[i - 1][j] + skip[i - 1]
            inserted = cost[i][j - 1] + _INSERT_COST
            # Ties go match > skip > insert, so the result does not depend on float noise.
            cost[i][j], move[i][j] = min(
                (match, "match"), (skipped, "skip"), (inserted, "ins"), key=lambda c: c[0]
            )
    out: Network = []
    i, j = n_slots, n_words
    while i > 0 or j > 0:
        step = move[i][j]
        if step == "match":
            out.append([*network[i - 1], words[j - 1]])
            i, j = i - 1, j - 1
        elif step == "skip":
            out.append([*network[i - 1], None])
            i -= 1
        else:
            out.append([*([None] * count), words[j - 1]])
            j -= 1
    out.reverse()
    return out


@lru_cache(maxsize=65536)
def word_distance(a: str, b: str) -> float:
    """0 for the same word; 0.5-1.0 for different words, lower for similar spellings."""
    if a == b:
        return 0.0
    # The same edit distance as between word sequences, here between the words' letters.
    return 0.5 + 0.5 * word_edits(a, b) / max(len(a), len(b))
