"""Verifying identity's signed tokens locally (no call to identity per request).

Identity signs with an Ed25519 private key only it holds; every other service verifies with
the public key from its environment. Roles are checked deny-by-default per route.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from fastapi import Request

from shared.http.problems import Problem

AUDIENCE = "care-badges"
ROLES = frozenset({"provider", "customer_service", "dhsc_analyst", "operations"})
#: Verified tokens a verifier remembers, the most recently used (a token and its principal
#: are about a kilobyte, more for an account with many locations). ``verify`` runs on the
#: event loop only (every caller is async), so the map needs no lock.
_REMEMBERED = 4096


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account, its role and kind, and the locations it may order for."""

    account_id: UUID
    role: str
    kind: str
    locations: frozenset[str] = field(default_factory=frozenset)
    token_id: str = ""
    #: The identity session the token was issued for ("" for tokens minted without one).
    session_id: str = ""
    #: Staff only: who they are, as the back office names them beside their decisions.
    name: str = ""


class TokenVerifier:
    def __init__(self, public_key_pem: str, issuer: str) -> None:
        # Parsed once: PyJWT parses a PEM string again on every decode (about 23 us of the
        # 200 a verification costs). A PEM that does not parse is kept as it is, so it fails
        # each verification as before rather than the service's start.
        self._key: Any = public_key_pem
        try:
            self._key = serialization.load_pem_public_key(public_key_pem.encode())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            pass
        self._issuer = issuer
        #: Tokens already verified, with their expiry: a signed-in visitor sends the same
        #: token with every page and call until it is renewed, and checking its signature
        #: again each time cost about 200 us of the service's CPU.
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def verify(self, token: str) -> Principal:
        """The token's principal if its signature, issuer, audience and expiry hold.

        A token verified before is answered from memory until its expiry: its signature and
        claims cannot have changed, and the expiry is checked again on every use."""
        known = self._verified.get(token)
        if known is not None:
            if time.time() < known[1]:  # as PyJWT checks it
                self._verified.move_to_end(token)
                return known[0]
            del self._verified[token]
        principal, expires = self._decode(token)
        self._verified[token] = (principal, expires)
        if len(self._verified) > _REMEMBERED:  # the least recently used goes
            self._verified.popitem(last=False)
        return principal

    def _decode(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["EdDSA"],
                audience=AUDIENCE,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "role", "jti"]},
            )
            principal = Principal(
                account_id=UUID(claims["sub"]),
                role=str(claims["role"]),
                kind=str(claims.get("kind", "")),
                locations=frozenset(claims.get("loc", [])),
                token_id=str(claims["jti"]),
                session_id=str(claims.get("sid", "")),
                name=str(claims.get("name", "")),
            )
            return principal, float(claims["exp"])
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
            raise _unauthorised("Your sign-in is not valid or has expired: sign in again.") from exc


def _unauthorised(detail: str) -> Problem:
    return Problem(
        401, "unauthorised", "Sign in required", detail, headers={"WWW-Authenticate": "Bearer"}
    )


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorised("Send your token in an 'Authorization: Bearer ...' header.")
    return token.strip()


def require_role(
    verifier: Callable[[], TokenVerifier], *roles: str
) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency that admits only a valid token carrying one of ``roles``."""
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    async def dependency(request: Request) -> Principal:
        principal = verifier().verify(bearer_token(request))
        if principal.role not in roles:
            raise Problem(
                403,
                "forbidden",
                "You do not have access to this",
                "Your account's role does not allow this action.",
            )
        return principal

    return dependency
