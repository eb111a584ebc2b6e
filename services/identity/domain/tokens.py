"""The signed access tokens identity issues and every service verifies locally.

Ed25519 (EdDSA): only identity holds the private key; the others get the public key, so a
leaked service cannot mint tokens. Short-lived, with a unique ``jti``, and the ``sid`` of the
session in identity's database that renews them (and that sign-out ends).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.http.auth import AUDIENCE

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_id: str
    expires_in: int


class TokenMinter:
    """Signs access tokens with the private key; the clock is injected so tests move time."""

    def __init__(
        self,
        private_key_pem: str,
        issuer: str,
        ttl: timedelta,
        clock: Clock = utc_now,
    ) -> None:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the token private key must be an Ed25519 key")
        self._key = key
        self._issuer = issuer
        self._ttl = ttl
        self._clock = clock

    def mint(
        self,
        *,
        account_id: UUID,
        role: str,
        kind: str,
        locations: Iterable[str],
        session_id: UUID | None = None,
        name: str = "",
    ) -> IssuedToken:
        now = self._clock()
        token_id = uuid.uuid4().hex
        claims = {
            "iss": self._issuer,
            "aud": AUDIENCE,
            "sub": str(account_id),
            "role": role,
            "kind": kind,
            "loc": sorted(locations),
            "iat": now,
            "exp": now + self._ttl,
            "jti": token_id,
        }
        if session_id is not None:
            claims["sid"] = str(session_id)
        if name:
            claims["name"] = name
        token = jwt.encode(claims, self._key, algorithm="EdDSA")
        return IssuedToken(token, token_id, int(self._ttl.total_seconds()))


def generate_key_pair() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair as (private PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public
