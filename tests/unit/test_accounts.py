"""Secrets: passwords are salted scrypt, tokens are stored as digests."""

from __future__ import annotations

from voicepipe.services.accounts import hash_password, hash_token, verify_password


def test_password_round_trip_and_salt() -> None:
    stored = hash_password("correct horse")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horse!", stored)
    assert hash_password("correct horse") != stored


def test_token_digest_is_stable_and_not_the_token() -> None:
    assert hash_token("vp_abc") == hash_token("vp_abc")
    assert hash_token("vp_abc") != hash_token("vp_abd")
    assert b"vp_abc" not in hash_token("vp_abc")
