"""Authenticating the courier's status callbacks, the way Stripe and GitHub sign webhooks.

The courier signs ``"{timestamp}." + raw body`` with HMAC-SHA256 under a shared secret and
sends ``X-Courier-Timestamp: <unix seconds>`` and ``X-Courier-Signature: sha256=<hex>``.
Signing the timestamp with the body lets us refuse an old capture replayed later; a replay
inside the tolerance window has the same signature, so storing a digest of each accepted
signature refuses that too.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE_HEADER = "X-Courier-Signature"
TIMESTAMP_HEADER = "X-Courier-Timestamp"
SCHEME = "sha256="

_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


class SignatureRejected(Exception):
    """The callback is not provably from the courier, or not fresh; ``reason`` is loggable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Courier-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def verify(
    secret: str,
    *,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    now: float,
    tolerance_seconds: int,
) -> str:
    """Check a callback's headers against its raw body; returns its replay key.

    Raises :class:`SignatureRejected` when a header is missing or malformed, the timestamp is
    further than ``tolerance_seconds`` from ``now`` either way, or the signature does not match.
    """
    if not signature or not timestamp:
        raise SignatureRejected("missing signature headers")
    if not _TIMESTAMP.match(timestamp):
        raise SignatureRejected("malformed timestamp")
    sent_at = int(timestamp)
    if abs(now - sent_at) > tolerance_seconds:
        raise SignatureRejected("timestamp outside tolerance")
    if not signature.startswith(SCHEME):
        raise SignatureRejected("unsupported signature scheme")
    expected = sign(secret, sent_at, body)
    # Compare as bytes: compare_digest refuses non-ASCII str, which a header may carry.
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureRejected("signature mismatch")
    return replay_key(expected)


def replay_key(signature: str) -> str:
    """What is stored to recognise the same signed callback sent again."""
    return hashlib.sha256(signature.encode()).hexdigest()
