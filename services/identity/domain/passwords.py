"""Passwords people choose for themselves, and how they are kept.

The rules are NCSC's and NIST SP 800-63B's (OWASP ASVS V2.1): length matters, composition rules
do not, and the passwords attackers try first are refused. Hashes are argon2id with at least
OWASP's parameters; a hash made with weaker parameters is replaced at the next sign-in.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
SUGGESTED_LENGTH = 12
#: Long enough for any passphrase; the bound stops a megabyte "password" costing a hash.
MAX_LENGTH = 128

_DENY_LIST = Path(__file__).parent / "data" / "common-passwords.txt.gz"
#: Words an attacker would try first against this service in particular.
_SERVICE_WORDS = ("carebadges", "care badges", "carebadge", "adultsocialcare", "socialcare")

#: OWASP Password Storage Cheat Sheet minimum for argon2id: 19 MiB, 2 passes, 1 lane.
HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1, type=Type.ID)


@functools.cache
def common_passwords() -> frozenset[str]:
    with gzip.open(_DENY_LIST, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip().casefold() for line in lines if line.strip())


def password_problems(password: str, *, email: str = "") -> list[str]:
    """What is wrong with a new password, in words that say what to do; empty when it is fine."""
    if len(password) < MIN_LENGTH:
        return [
            f"Your password must be at least {MIN_LENGTH} characters long "
            f"({SUGGESTED_LENGTH} or more is better: try three random words)."
        ]
    if len(password) > MAX_LENGTH:
        return [f"Your password must be {MAX_LENGTH} characters or fewer."]
    folded = password.casefold()
    local_part = email.split("@", 1)[0].casefold()
    if folded in common_passwords() or any(word in folded for word in _SERVICE_WORDS):
        return [
            "Your password is too easy to guess: it is one of the passwords people use most "
            "often. Choose another, for example three random words."
        ]
    if email and (folded == email.casefold() or (len(local_part) >= 4 and local_part in folded)):
        return ["Your password must not contain your email address. Choose another."]
    return []


def hash_password(password: str) -> str:
    """argon2id hash (about 25 ms of one core: call it from a worker thread)."""
    return HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True if ``password`` matches; a damaged hash is a mismatch, not an error."""
    try:
        return HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than :data:`HASHER` uses now."""
    try:
        return HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
