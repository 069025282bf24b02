"""ROVER alignment into slots with "no word", and voting per slot rather than per position."""

from __future__ import annotations

from voicepipe.domain.consensus import Transcription, chunk_consensus, to_words
from voicepipe.domain.consensus.align import Network, align


def _keys(network: Network) -> list[list[str | None]]:
    return [[None if w is None else w.key for w in slot] for slot in network]


def test_insertions_and_deletions_become_no_word_entries() -> None:
    network = align(
        [
            to_words("the cat sat on the mat"),
            to_words("the cat sat on mat"),
            to_words("well the cat sat on the mat"),
        ]
    )
    assert _keys(network) == [
        [None, None, "well"],
        ["the", "the", "the"],
        ["cat", "cat", "cat"],
        ["sat", "sat", "sat"],
        ["on", "on", "on"],
        ["the", None, "the"],
        ["mat", "mat", "mat"],
    ]


def test_similar_spellings_share_a_slot() -> None:
    network = align([to_words("a grey colour"), to_words("a gray color")])
    assert _keys(network) == [["a", "a"], ["grey", "gray"], ["colour", "color"]]


def test_voting_is_per_slot_not_per_position() -> None:
    """Positional voting would be thrown off by the leading insertions."""
    result = chunk_consensus(
        [
            Transcription("a", "um so the meeting starts at noon"),
            Transcription("b", "the meeting starts at noon"),
            Transcription("c", "the meeting starts at new"),
            Transcription("d", "the meeting starts noon"),
        ]
    )
    assert result.normalized_text == "the meeting starts at noon"


def test_display_form_is_the_most_common_writing() -> None:
    result = chunk_consensus(
        [
            Transcription("a", "We met in Paris."),
            Transcription("b", "we met in Paris"),
            Transcription("c", "we met in paris"),
        ]
    )
    assert result.text == "we met in Paris"


def test_reliable_contributor_breaks_a_three_way_split() -> None:
    items = [
        Transcription("expert", "she sells sea shells"),
        Transcription("novice1", "she sells see shells"),
        Transcription("novice2", "she sells shells"),
    ]
    accuracy = {"expert": 0.98, "novice1": 0.7, "novice2": 0.7}
    assert chunk_consensus(items, accuracy).normalized_text == "she sells sea shells"
    flipped = {"expert": 0.7, "novice1": 0.98, "novice2": 0.7}
    assert chunk_consensus(items, flipped).normalized_text == "she sells see shells"
