"""Password rules (NCSC, NIST 800-63B, ASVS V2.1) and argon2id storage."""

import pytest

from services.identity.domain import passwords
from services.identity.domain.passwords import (
    HASHER,
    common_passwords,
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)


@pytest.mark.parametrize(
    "password", ["correct horse battery", "Tr0ub4dor&3x", "zz9 plural z alpha"]
)
def test_long_uncommon_passwords_pass_without_composition_rules(password: str) -> None:
    assert password_problems(password, email="manager@rose.example") == []


def test_eight_characters_is_the_minimum() -> None:
    assert password_problems("kx7!qpz") != []
    assert password_problems("kx7!qpzm") == []


def test_a_password_past_the_maximum_is_refused_with_the_limit() -> None:
    problems = password_problems("a" * (passwords.MAX_LENGTH + 1))
    assert str(passwords.MAX_LENGTH) in problems[0]


@pytest.mark.parametrize(
    "password", ["password", "Password1", "qwertyuiop", "iloveyou1", "CareBadges2026"]
)
def test_common_and_service_passwords_are_refused(password: str) -> None:
    assert "too easy to guess" in password_problems(password)[0]


def test_the_shipped_list_is_loaded() -> None:
    assert len(common_passwords()) > 10_000
    assert "password1" in common_passwords()


def test_a_password_containing_the_email_is_refused() -> None:
    assert password_problems("jsmith.rosehouse", email="jsmith.rosehouse@rose.example") != []
    assert password_problems("my jsmith99 secret", email="jsmith99@rose.example") != []


def test_hashes_are_argon2id_with_owasp_parameters_and_verify() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "m=19456,t=2,p=1" in stored
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterz")
    assert not verify_password("not a hash", "anything")
    assert not needs_rehash(stored)


def test_a_weaker_hash_is_flagged_for_rehash() -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("correct horse")
    assert verify_password(weak, "correct horse")
    assert needs_rehash(weak)
    assert HASHER.time_cost == 2
