"""Tokens identity mints are the ones every other service's verifier accepts."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from services.identity.domain.tokens import TokenMinter, generate_key_pair
from shared.http import auth
from shared.http.auth import AUDIENCE, TokenVerifier
from shared.http.problems import Problem

ISSUER = "care-identity"


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    private, public = generate_key_pair()
    return private.decode(), public.decode()


def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature is checked from now on (each PyJWT decode)."""
    decoded: list[str] = []
    real_decode = jwt.decode

    def counted(token: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)
    return decoded


def test_minted_token_verifies_with_the_public_key(keys: tuple[str, str]) -> None:
    private, public = keys
    account = uuid.uuid4()
    minter = TokenMinter(private, ISSUER, timedelta(minutes=15))
    issued = minter.mint(account_id=account, role="provider", kind="cqc", locations=["1-2", "1-1"])
    principal = TokenVerifier(public, ISSUER).verify(issued.token)
    assert principal.account_id == account
    assert principal.role == "provider"
    assert principal.kind == "cqc"
    assert principal.locations == frozenset({"1-1", "1-2"})
    assert principal.token_id == issued.token_id
    assert issued.expires_in == 900


def test_claims_and_algorithm(keys: tuple[str, str]) -> None:
    private, public = keys
    now = datetime.now(UTC).replace(microsecond=0)
    minter = TokenMinter(private, ISSUER, timedelta(seconds=300), clock=lambda: now)
    token = minter.mint(account_id=uuid.uuid4(), role="provider", kind="cqc", locations=[]).token
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    claims = jwt.decode(token, public, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["iat"] == int(now.timestamp())
    assert claims["exp"] == int(now.timestamp()) + 300
    assert claims["aud"] == AUDIENCE
    assert claims["loc"] == []
    assert len(claims["jti"]) == 32


def test_each_token_has_its_own_id(keys: tuple[str, str]) -> None:
    minter = TokenMinter(keys[0], ISSUER, timedelta(minutes=15))
    ids = {
        minter.mint(account_id=uuid.uuid4(), role="provider", kind="cqc", locations=[]).token_id
        for _ in range(5)
    }
    assert len(ids) == 5


def test_expired_token_is_refused(keys: tuple[str, str]) -> None:
    private, public = keys
    past = datetime.now(UTC) - timedelta(minutes=16)
    minter = TokenMinter(private, ISSUER, timedelta(minutes=15), clock=lambda: past)
    token = minter.mint(account_id=uuid.uuid4(), role="provider", kind="cqc", locations=[]).token
    with pytest.raises(Problem):
        TokenVerifier(public, ISSUER).verify(token)


def test_a_verified_token_is_remembered_until_it_expires_and_then_refused(
    keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = keys
    almost = datetime.now(UTC) - timedelta(minutes=15) + timedelta(seconds=1)
    minter = TokenMinter(private, ISSUER, timedelta(minutes=15), clock=lambda: almost)
    token = minter.mint(account_id=uuid.uuid4(), role="provider", kind="cqc", locations=[]).token
    verifier = TokenVerifier(public, ISSUER)
    decoded = count_decodes(monkeypatch)

    first, again = verifier.verify(token), verifier.verify(token)
    assert first == again and len(decoded) == 1  # the signature is checked once
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(Problem):
        verifier.verify(token)


def test_the_verifier_forgets_the_least_recently_used_token_first(
    keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = keys
    minter = TokenMinter(private, ISSUER, timedelta(minutes=15))
    a, b, c = (
        minter.mint(account_id=uuid.uuid4(), role="provider", kind="cqc", locations=[]).token
        for _ in range(3)
    )
    monkeypatch.setattr(auth, "_REMEMBERED", 2)
    verifier = TokenVerifier(public, ISSUER)
    for token in (a, b, a, c):  # a used again, so b is the least recently used when c comes
        verifier.verify(token)
    decoded = count_decodes(monkeypatch)
    verifier.verify(a), verifier.verify(c)
    assert decoded == []
    verifier.verify(b)
    assert decoded == [b]


def test_token_from_another_key_or_issuer_is_refused(keys: tuple[str, str]) -> None:
    other_private, _ = generate_key_pair()
    forged = TokenMinter(other_private.decode(), ISSUER, timedelta(minutes=15)).mint(
        account_id=uuid.uuid4(), role="operations", kind="staff", locations=[]
    )
    with pytest.raises(Problem):
        TokenVerifier(keys[1], ISSUER).verify(forged.token)
    elsewhere = TokenMinter(keys[0], "someone-else", timedelta(minutes=15)).mint(
        account_id=uuid.uuid4(), role="provider", kind="cqc", locations=[]
    )
    with pytest.raises(Problem):
        TokenVerifier(keys[1], ISSUER).verify(elsewhere.token)


def test_only_an_ed25519_key_is_accepted() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="Ed25519"):
        TokenMinter(pem.decode(), ISSUER, timedelta(minutes=15))
