"""Random secrets handed to people (reset links, refresh tokens) and keyed hashes of values
that must be counted or correlated without being kept (emails, source addresses).

Only the SHA-256 of a handed-out secret is stored: 256 random bits need no slow hash, and a
copy of the table opens nothing (ASVS 2.5.6, 3.3).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

#: Bytes of randomness in every secret handed out: 256 bits, above ASVS's 128.
SECRET_BYTES = 32


def new_secret() -> tuple[str, bytes]:
    """A URL-safe secret to hand out and the digest to store."""
    token = secrets.token_urlsafe(SECRET_BYTES)
    return token, digest(token)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def keyed_hash(key: bytes, scope: str, value: str) -> bytes:
    """HMAC-SHA256 of ``value`` within ``scope``: stable for counting, useless to a reader
    without ``key`` (a plain hash of an email can be reversed by guessing emails)."""
    return hmac.new(key, f"{scope}\x00{value}".encode(), hashlib.sha256).digest()


def derive_key(material: str, purpose: str) -> bytes:
    """A key for one purpose derived from a secret the service already holds."""
    return hmac.new(material.encode(), purpose.encode(), hashlib.sha256).digest()
