"""Normalisation: Unicode, case, punctuation and whitespace vanish; display keeps the writing."""

from __future__ import annotations

from voicepipe.domain.consensus import normalize_text, to_words


def test_case_punctuation_whitespace_and_unicode_forms_compare_equal() -> None:
    variants = [
        "The café, at noon!",
        "  the CAFÉ at noon ",
        "The cafe\u0301 at noon.",  # decomposed accent
        "Ｔｈｅ ｃａｆé at noon...",  # fullwidth letters
        "the café — at noon?",
    ]
    assert {normalize_text(v) for v in variants} == {"the café at noon"}


def test_apostrophes_and_hyphens_do_not_split_votes() -> None:
    assert normalize_text("Don't") == normalize_text("dont") == normalize_text("don’t")
    assert normalize_text("well-known") == normalize_text("well known")


def test_display_keeps_case_and_inner_punctuation() -> None:
    words = to_words("“Paris,” said O'Neil.")
    assert [w.display for w in words] == ["Paris", "said", "O'Neil"]
    assert [w.key for w in words] == ["paris", "said", "oneil"]


def test_punctuation_only_input_has_no_words() -> None:
    assert to_words(" ... ?! — ") == ()
    assert normalize_text("") == ""
