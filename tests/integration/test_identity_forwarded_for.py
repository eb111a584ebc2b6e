"""X-Forwarded-For opens a new per-source counter only when a configured proxy sent it
(issue 17, item 3): a client calling identity directly cannot dodge the per-source limit by
making up a new address for every guess."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.platform import Platform

pytestmark = pytest.mark.integration

LIMIT = 3
UNTRUSTED = "203.0.113.9"
PROXY = "10.0.0.5"


@pytest.fixture(scope="module")
async def identity() -> AsyncIterator[Platform]:
    async with Platform() as p:
        await p.start(
            "identity",
            source_failure_limit=LIMIT,
            trusted_proxies=[PROXY],
            uniform_response_seconds=0,
        )
        yield p


async def guesses(platform: Platform, client_host: str, count: int) -> list[int]:
    """``count`` wrong sign-ins for different accounts, each claiming a new forwarded address."""
    transport = httpx.ASGITransport(app=platform.apps["identity"][0], client=(client_host, 40000))
    statuses = []
    async with httpx.AsyncClient(transport=transport, base_url="http://identity.test") as client:
        for n in range(count):
            answer = await client.post(
                "/api/sign-in",
                json={"email": f"guess{n}.{client_host}@example.org", "password": "wrong-guess"},
                headers={"x-forwarded-for": f"198.51.100.{n + 1}"},
            )
            statuses.append(answer.status_code)
    return statuses


async def test_a_spoofed_header_from_an_untrusted_address_is_ignored(identity: Platform) -> None:
    statuses = await guesses(identity, UNTRUSTED, LIMIT + 2)
    assert statuses[:LIMIT] == [401] * LIMIT, statuses
    assert statuses[LIMIT:] == [429, 429], statuses  # one source, whatever the header says


async def test_the_configured_proxys_header_names_the_client(identity: Platform) -> None:
    statuses = await guesses(identity, PROXY, LIMIT + 2)
    assert 429 not in statuses, statuses  # each forwarded client counted on its own
