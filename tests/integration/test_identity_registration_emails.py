"""Creating an account cannot flood an inbox (issue 17, item 7): 20 parallel requests for
one address, known or new, send at most 3 emails in an hour, and every answer is the same."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.support.identity import identity_platform, location, registration, token_in
from tests.support.mail import SmtpSink
from tests.support.platform import Platform

pytestmark = pytest.mark.integration

LIMIT = 3


@pytest.fixture(scope="module")
async def platform(mail: SmtpSink) -> AsyncIterator[Platform]:
    async with identity_platform(mail, [location("1-H1", "home@hilltop.example", "VH001")]) as p:
        yield p


async def twenty_at_once(platform: Platform, email: str) -> set[tuple[int, str]]:
    async with platform.client("identity") as api:
        answers = await asyncio.gather(
            *(api.post("/api/accounts", json=registration(email)) for _ in range(20))
        )
    return {(a.status_code, a.text) for a in answers}


async def emails_to(mail: SmtpSink, address: str) -> int:
    await asyncio.sleep(2)  # the relay polls every 0.1 s: anything queued has gone by now
    return sum(1 for m in mail.messages if m["To"] == address)


@pytest.mark.parametrize("known", [False, True])
async def test_twenty_parallel_registrations_send_at_most_three_emails(
    platform: Platform, mail: SmtpSink, known: bool
) -> None:
    email = f"flood-{'known' if known else 'new'}@hilltop.example"
    if known:  # an account exists: each request would email its owner
        async with platform.client("identity") as api:
            assert (await api.post("/api/accounts", json=registration(email))).status_code == 202
        await emails_to(mail, email)
        confirm = [m for m in mail.messages if m["To"] == email][-1]
        async with platform.client("identity") as api:
            made = await api.post("/api/accounts/confirm", json={"token": token_in(confirm)})
            assert made.status_code == 201, made.text
        mail.clear()
    answers = await twenty_at_once(platform, email)
    assert len(answers) == 1 and next(iter(answers))[0] == 202, answers  # all the same
    sent = await emails_to(mail, email)
    assert 1 <= sent <= LIMIT, sent
