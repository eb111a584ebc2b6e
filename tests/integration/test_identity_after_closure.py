"""After the portal has closed, signing in changes no account (issue 16, item 6): no new
account, no location added with another location's code; and the answer says plainly that the
service has closed. A holder may still sign in with a location already theirs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.identity import identity_platform, location, scalar
from tests.support.keys import bearer, mint
from tests.support.mail import SmtpSink
from tests.support.platform import Platform

pytestmark = pytest.mark.integration

OWNER = "manager@hazel.example"
REGISTER = [
    location("1-H1", OWNER, "VH001"),
    location("1-H2", OWNER, "VH002"),
    location("1-NEW", "new@hazel.example", "VH003"),
]


@pytest.fixture(scope="module")
async def platform() -> AsyncIterator[Platform]:
    with SmtpSink() as mail:
        async with identity_platform(mail, REGISTER) as p:
            yield p


async def sign_in(client: httpx.AsyncClient, email: str, code: str) -> httpx.Response:
    return await client.post("/api/sign-in", json={"email": email, "password": code})


async def test_after_closure_no_location_is_added_and_the_answer_says_it_closed(
    platform: Platform,
) -> None:
    identity = platform.service("identity")
    async with platform.client("identity") as client:
        first = await sign_in(client, OWNER, "VH001")
        assert first.status_code == 200
        account_id = first.json()["account_id"]
        closed = await client.post("/api/portal/close", headers=bearer(mint("operations")))
        assert closed.status_code == 200, closed.text

        other = await sign_in(client, OWNER, "VH002")
        assert other.status_code == 403
        assert other.json()["type"].endswith("/portal-closed")
        assert other.json()["title"] == "The CARE badges service has closed"
        newcomer = await sign_in(client, "new@hazel.example", "VH003")
        assert newcomer.status_code == 403 and newcomer.json()["type"].endswith("/portal-closed")

        again = await sign_in(client, OWNER, "VH001")
        assert again.status_code == 200
        assert [loc["location_id"] for loc in again.json()["locations"]] == ["1-H1"]

    locations = await scalar(
        identity,
        "SELECT count(*) FROM account_locations WHERE account_id = :id",
        id=account_id,
    )
    assert locations == 1
    accounts = await scalar(
        identity, "SELECT count(*) FROM accounts WHERE email = :e", e="new@hazel.example"
    )
    assert accounts == 0
