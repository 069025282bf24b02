"""Words of a transcription: a comparison key (NFKC, casefolded, no punctuation) and display form."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Apostrophes vanish inside a word ("don't" ~ "dont"); other punctuation separates words
# ("well-known" ~ "well known"), so spelling habits do not split votes.
_APOSTROPHES = "'’ʼ`´"
_SPLIT = re.compile(r"[\s\-‐‑‒–—/_]+")


@dataclass(frozen=True, order=True)
class Word:
    """One word: `key` is compared and voted on, `display` is what a person wrote."""

    key: str
    display: str


def to_words(text: str) -> tuple[Word, ...]:
    """Split a transcription into words; punctuation-only tokens disappear."""
    words = []
    for token in _SPLIT.split(unicodedata.normalize("NFKC", text)):
        display = _strip_edge_punctuation(token)
        key = _key(display)
        if key:
            words.append(Word(key=key, display=display))
    return tuple(words)


def normalize_text(text: str) -> str:
    """The comparison form of a whole transcription: keys joined by single spaces."""
    return " ".join(word.key for word in to_words(text))


def _key(token: str) -> str:
    kept = [
        ch
        for ch in token.casefold()
        if ch not in _APOSTROPHES and unicodedata.category(ch)[0] in "LNM"
    ]
    return "".join(kept)


def _strip_edge_punctuation(token: str) -> str:
    start, end = 0, len(token)
    while start < end and not token[start].isalnum():
        start += 1
    while end > start and not token[end - 1].isalnum():
        end -= 1
    return token[start:end]
