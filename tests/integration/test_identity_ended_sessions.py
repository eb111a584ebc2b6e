"""Identity refuses an access token whose session has ended, although the token itself has
not expired yet (issue 17, item 5; ADR 0066): after sign-out, after a password reset and after
the account is disabled. Other services accept it only until it expires, which settings cap."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pydantic
import pytest

from services.identity.settings import IdentitySettings
from tests.support.identity import identity_platform, location, mail_to, token_in
from tests.support.mail import SmtpSink
from tests.support.platform import Platform

pytestmark = pytest.mark.integration

REGISTER = [location(f"1-E{i}", f"ended{i}@elm.example", f"VE{i:03d}") for i in range(3)]


@pytest.fixture(scope="module")
async def platform(mail: SmtpSink) -> AsyncIterator[Platform]:
    async with identity_platform(mail, REGISTER) as p:
        yield p


async def signed_in(api: httpx.AsyncClient, n: int) -> str:
    answer = await api.post(
        "/api/sign-in", json={"email": f"ended{n}@elm.example", "password": f"VE{n:03d}"}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_stops_working_at_identity_when_its_holder_signs_out(
    platform: Platform,
) -> None:
    async with platform.client("identity") as api:
        token = await signed_in(api, 0)
        other = await signed_in(api, 0)  # another session of the same account
        assert (await api.get("/api/account", headers=bearer(token))).status_code == 200
        assert (await api.post("/api/sign-out", headers=bearer(token))).status_code == 204
        after = await api.get("/api/account", headers=bearer(token))
        again = await api.post("/api/sign-out", headers=bearer(token))
        still = await api.get("/api/account", headers=bearer(other))
    assert after.status_code == 401 and after.json()["type"].endswith("/session-ended")
    assert again.status_code == 401
    assert still.status_code == 200  # only the session signed out of has ended


async def test_a_password_reset_ends_every_token_at_identity(
    platform: Platform, mail: SmtpSink
) -> None:
    async with platform.client("identity") as api:
        token = await signed_in(api, 1)
        assert (
            await api.post("/api/password-reset", json={"email": "ended1@elm.example"})
        ).status_code == 202
        link = token_in(await mail_to(mail, "ended1@elm.example", "Reset your password"))
        done = await api.post(
            "/api/password-reset/confirm", json={"token": link, "password": "willow kettle moss"}
        )
        assert done.status_code == 204, done.text
        after = await api.get("/api/account", headers=bearer(token))
    assert after.status_code == 401


async def test_a_token_that_does_not_verify_is_still_refused_by_the_route(
    platform: Platform,
) -> None:
    async with platform.client("identity") as api:
        forged = await api.get("/api/account", headers=bearer("not.a.token"))
    assert forged.status_code == 401


def test_no_other_service_can_be_given_a_token_that_outlives_15_minutes() -> None:
    """The remaining window elsewhere is the token's lifetime, capped here (ADR 0066)."""
    assert IdentitySettings().token_ttl_seconds == 300
    with pytest.raises(pydantic.ValidationError):
        IdentitySettings(token_ttl_seconds=901)
