"""The one identity client every site uses: what it forwards, how it reports a refusal, and
when a page session's tokens are renewed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.identity import (
    ACCESS_TOKEN,
    AUTH_KEY,
    EXPIRES_AT,
    REFRESH_TOKEN,
    RENEW_WITHIN_SECONDS,
    IdentityClient,
    IdentityRefused,
    TooManyAttempts,
    end_session,
    remember,
    renewal_due,
    signed_in_tokens,
)
from shared.web.sessions import WebSession


def tokens(n: int, expires_in: int = 300) -> dict[str, Any]:
    return {
        "access_token": f"a{n}",
        "refresh_token": f"r{n}",
        "expires_in": expires_in,
        "kind": "cqc",
        "locations": [{"location_id": f"1-{n}"}],
    }


def session() -> WebSession:
    return WebSession("id", {}, datetime.now(UTC) + timedelta(minutes=30))


def client(answer: Any) -> IdentityClient:
    identity = IdentityClient("http://identity.test/", 5.0)
    identity.transport = httpx.MockTransport(answer)
    return identity


async def test_a_sign_in_forwards_the_browser_address_and_the_device_tokens() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=tokens(1))

    identity = client(answer)
    await identity.sign_in("a@example.org", "pw", "203.0.113.9", ["d1"], "corr-1")
    await identity.refresh("r1")
    [sign_in, renew] = seen
    assert sign_in.headers["x-forwarded-for"] == "203.0.113.9"
    assert sign_in.headers["x-correlation-id"] == "corr-1"
    assert b'"device_tokens":["d1"]' in sign_in.content.replace(b" ", b"")
    assert "x-forwarded-for" not in renew.headers  # only what the browser itself attempts
    await identity.stop()


async def test_a_refusal_carries_identitys_problem_and_how_long_to_wait() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/sign-in":
            return httpx.Response(429, json={"title": "Too many"}, headers={"Retry-After": "61"})
        return httpx.Response(
            422,
            json={
                "type": "https://x/problems/invalid",
                "errors": [{"field": "password", "message": "is too short"}],
            },
        )

    identity = client(answer)
    with pytest.raises(TooManyAttempts) as many:
        await identity.sign_in("a@example.org", "pw")
    assert many.value.wait() == "Wait 2 minutes"
    assert many.value.message().startswith("You have tried to sign in too many times. Wait 2")
    with pytest.raises(IdentityRefused) as refused:
        await identity.confirm_reset("t", "pw")
    assert refused.value.status == 422 and refused.value.is_a("invalid")
    assert refused.value.field_errors() == {"password": "is too short"}
    assert await identity.refresh("r") is None  # a refused renewal means: sign in again


async def test_tokens_are_renewed_shortly_before_they_expire_and_kept_under_one_key() -> None:
    renewed: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        renewed.append(request.url.path)
        return httpx.Response(200, json=tokens(2))

    identity, kept = client(answer), session()
    remember(kept, tokens(1, expires_in=RENEW_WITHIN_SECONDS + 60), "locations", email="e")
    assert kept.id is None  # a new session id at sign-in
    first = await signed_in_tokens(kept, identity, "locations")
    assert first is not None and first[ACCESS_TOKEN] == "a1" and renewed == []

    kept[AUTH_KEY] = {**kept[AUTH_KEY], EXPIRES_AT: time.time() + RENEW_WITHIN_SECONDS - 1}
    second = await signed_in_tokens(kept, identity, "locations")
    assert renewed == ["/api/token"]
    assert second is not None and second == kept[AUTH_KEY]
    assert second[ACCESS_TOKEN] == "a2" and second[REFRESH_TOKEN] == "r2"
    assert second["locations"] == [{"location_id": "1-2"}] and second["email"] == "e"
    assert not renewal_due(second)


async def test_a_session_whose_renewal_is_refused_or_kept_otherwise_signs_in_again() -> None:
    identity = client(lambda request: httpx.Response(401, json={}))
    kept = session()
    remember(kept, tokens(1, expires_in=0))
    assert await signed_in_tokens(kept, identity) is None and AUTH_KEY not in kept.data

    kept[AUTH_KEY] = {"access": "a", "refresh": "r"}  # an earlier release's keys
    assert await signed_in_tokens(kept, identity) is None and AUTH_KEY not in kept.data
    assert await signed_in_tokens(session(), identity) is None


async def test_signing_out_after_the_access_token_expired_ends_identitys_session() -> None:
    """Staff sign-out sent the stored token as it was: after five idle minutes identity
    refused it and its session, and refresh token, stayed alive."""
    calls: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append((request.url.path, request.headers.get("authorization", "")))
        return (
            httpx.Response(200, json=tokens(2))
            if "token" in request.url.path
            else (httpx.Response(204))
        )

    identity, kept = client(answer), session()
    remember(kept, tokens(1))
    kept[AUTH_KEY] = {**kept[AUTH_KEY], EXPIRES_AT: time.time() - 60}  # expired a minute ago
    await end_session(kept, identity)
    assert calls == [("/api/token", ""), ("/api/sign-out", "Bearer a2")]
    assert kept.ended and kept.get(AUTH_KEY) is None
