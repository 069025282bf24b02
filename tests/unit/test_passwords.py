"""Password hashes: argon2id for new ones, legacy scrypt ones still verify and ask to be redone."""

from __future__ import annotations

import hashlib
import secrets

import pytest
from argon2 import PasswordHasher

from voicepipe.errors import InvalidInput
from voicepipe.services.accounts import (
    check_new_password,
    hash_password,
    password_needs_rehash,
    verify_password,
)


def legacy_scrypt_hash(password: str) -> str:
    """A hash as voicepipe wrote them before argon2 (scrypt$n$r$p$salt$digest)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def test_new_hashes_are_argon2id_and_verify() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horse!", stored)
    assert not password_needs_rehash(stored)


def test_legacy_scrypt_hashes_verify_and_need_a_rehash() -> None:
    stored = legacy_scrypt_hash("battery staple")
    assert verify_password("battery staple", stored)
    assert not verify_password("battery stapler", stored)
    assert password_needs_rehash(stored)


def test_argon2_hashes_with_weaker_parameters_need_a_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pass phrase")
    assert verify_password("pass phrase", weak)
    assert password_needs_rehash(weak)


@pytest.mark.parametrize("stored", ["", "plain", "scrypt$1$2", "$argon2id$v=19$garbage"])
def test_malformed_hashes_match_nothing(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_new_passwords_must_be_long_enough() -> None:
    with pytest.raises(InvalidInput, match="at least 8"):
        check_new_password("short")
    with pytest.raises(InvalidInput, match="at least 8"):
        check_new_password("")
    check_new_password("eight ch")
