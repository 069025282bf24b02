"""Properties: order independence, determinism, identical inputs give that text confidently."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.crowd import VOCABULARY, Contributor, transcribe
from voicepipe.domain.consensus import Transcription, chunk_consensus, normalize_text

PROPERTY = settings(derandomize=True, deadline=None, max_examples=60, database=None)

words = st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=20)


@st.composite
def noisy_chunk(draw: st.DrawFn) -> list[Transcription]:
    truth = " ".join(draw(words))
    rng = random.Random(draw(st.integers(0, 10**6)))
    count = draw(st.integers(1, 7))
    out = []
    for k in range(count):
        who = Contributor(f"c{k}", draw(st.sampled_from([0.0, 0.1, 0.3])))
        out.append(Transcription(who.contributor_id, transcribe(rng, truth, who, "other text")))
    if draw(st.booleans()):
        out.append(Transcription("spam", draw(st.sampled_from(["", "asdf qwer", "lorem"]))))
    return out


@PROPERTY
@given(chunk=noisy_chunk(), seed=st.integers(0, 1000))
def test_order_of_transcriptions_does_not_matter(chunk: list[Transcription], seed: int) -> None:
    shuffled = list(chunk)
    random.Random(seed).shuffle(shuffled)
    assert chunk_consensus(shuffled) == chunk_consensus(chunk)


@PROPERTY
@given(chunk=noisy_chunk())
def test_same_input_same_output(chunk: list[Transcription]) -> None:
    assert chunk_consensus(chunk) == chunk_consensus(list(chunk))


@PROPERTY
@given(text=words, count=st.integers(3, 7), style=st.sampled_from(["lower", "title", "upper"]))
def test_identical_transcriptions_give_that_text_with_high_confidence(
    text: list[str], count: int, style: str
) -> None:
    written = getattr(" ".join(text), style)() + "."
    result = chunk_consensus([Transcription(f"c{k}", written) for k in range(count)])
    assert result.normalized_text == normalize_text(written)
    assert result.confidence >= 0.95
    assert result.text == " ".join(w.rstrip(".") for w in written.split())


@PROPERTY
@given(chunk=noisy_chunk())
def test_confidence_is_a_probability(chunk: list[Transcription]) -> None:
    assert 0.0 <= chunk_consensus(chunk).confidence <= 1.0
