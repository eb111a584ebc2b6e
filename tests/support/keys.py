"""Signing keys and tokens for tests: staff roles have no self-service sign-in yet."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from functools import cache

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.http.auth import AUDIENCE


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: str


@cache
def keypair() -> KeyPair:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return KeyPair(private, public)


def mint(
    role: str,
    *,
    account_id: uuid.UUID | None = None,
    kind: str = "staff",
    locations: list[str] | None = None,
    ttl: int = 900,
) -> str:
    now = int(time.time())
    claims = {
        "iss": "care-identity",
        "aud": AUDIENCE,
        "sub": str(account_id or uuid.uuid4()),
        "role": role,
        "kind": kind,
        "loc": locations or [],
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, keypair().private_pem, algorithm="EdDSA")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def staff(role: str, account_id: uuid.UUID | None = None) -> dict[str, str]:
    """Headers for one request by a member of staff.

    Mint them per request, not once at import: a token lives 15 minutes and a full suite
    reaches its later files well after that.
    """
    return bearer(mint(role, account_id=account_id))
