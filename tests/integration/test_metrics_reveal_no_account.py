"""No metric says whether an email address has an account (issue 17, item 6): asking for a
password reset, signing in wrongly and starting a registration move exactly the same counters,
with the same labels, for an address with an account as for one without."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.identity import identity_platform, location, registration
from tests.support.mail import SmtpSink
from tests.support.platform import Platform

pytestmark = pytest.mark.integration

KNOWN = "known@oak.example"


@pytest.fixture(scope="module")
async def platform() -> AsyncIterator[Platform]:
    with SmtpSink() as mail:
        async with identity_platform(mail, [location("1-OAK", KNOWN, "VK001")]) as p:
            async with p.client("identity") as api:  # KNOWN gets an account
                assert (
                    await api.post("/api/sign-in", json={"email": KNOWN, "password": "VK001"})
                ).status_code == 200
            await asyncio.sleep(2)  # its events are published before any test measures
            yield p


async def counters(api: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every care_* counter sample (not timings, which vary by a millisecond either way).

    The email relay's count is left out: it says that an email went, some time later, never to
    whom or why, and is read only inside the cluster, as all of /metrics is."""
    text = (await api.get("/metrics")).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.type == "counter"
        and family.name.startswith("care_")
        and not family.name.startswith("care_emails")
        for sample in family.samples
        if sample.name.endswith("_total")
    }


async def moved(api: httpx.AsyncClient, action: Callable[[], Awaitable[object]]) -> dict:  # type: ignore[type-arg]
    before = await counters(api)
    await action()
    await asyncio.sleep(0.5)  # the relay sends what the action queued
    after = await counters(api)
    return {
        key: value - before.get(key, 0)
        for key, value in after.items()
        if value != before.get(key, 0) and "/metrics" not in str(key)
    }


@pytest.mark.parametrize("journey", ["reset", "sign-in", "registration"])
async def test_known_and_unknown_addresses_move_the_same_counters(
    platform: Platform, journey: str
) -> None:
    async with platform.client("identity") as api:

        def act(email: str) -> Callable[[], Awaitable[object]]:
            if journey == "reset":
                return lambda: api.post("/api/password-reset", json={"email": email})
            if journey == "sign-in":
                return lambda: api.post(
                    "/api/sign-in", json={"email": email, "password": "not it at all"}
                )
            return lambda: api.post("/api/accounts", json=registration(email))

        known = await moved(api, act(KNOWN))
        unknown = await moved(api, act("nobody@oak.example"))
    assert known, "the journey moved no counter at all"
    assert known == unknown
