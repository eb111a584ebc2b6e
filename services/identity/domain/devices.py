"""Device tokens: OWASP's device-cookie defence against locking an owner out (ADR 0064).

A browser that has signed in to an account successfully is handed a token for that account,
which the site keeps in a ``__Host-`` cookie. Sign-ins that carry a valid token for the account
being signed in to are counted on that device's own lockout, apart from every unknown source,
so an attacker guessing from elsewhere cannot lock the owner out of their usual browser.

A token is ``d1.<nonce>.<mac>``: 128 random bits and an HMAC-SHA256 over the account's keyed
hash and the nonce. It names no account (a reader learns nothing from it), is only valid for
the account it was issued for, and cannot be forged without identity's key. The lockout
counter of a device is keyed by a keyed hash of its nonce. Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "d1"
#: Longest token accepted, and how many a browser may present (one per account it signs in to).
MAX_TOKEN_LENGTH = 128
MAX_TOKENS = 5


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _mac(key: bytes, subject: bytes, nonce: str) -> str:
    return _b64(hmac.new(key, b"device\x00" + subject + nonce.encode(), hashlib.sha256).digest())


def new_token(key: bytes, subject: bytes) -> str:
    """A device token for the account whose keyed hash is ``subject``."""
    nonce = _b64(secrets.token_bytes(16))
    return f"{PREFIX}.{nonce}.{_mac(key, subject, nonce)}"


def device_of(key: bytes, subject: bytes, tokens: list[str]) -> tuple[str, bytes] | None:
    """The first of ``tokens`` valid for ``subject``: the token and its counter key."""
    for token in tokens[:MAX_TOKENS]:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != PREFIX or len(token) > MAX_TOKEN_LENGTH:
            continue
        if hmac.compare_digest(parts[2], _mac(key, subject, parts[1])):
            counter = hmac.new(key, b"device-counter\x00" + parts[1].encode(), hashlib.sha256)
            return token, counter.digest()
    return None
