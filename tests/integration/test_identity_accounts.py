"""Creating an account, forgetting a password and staff accounts, end to end: real
PostgreSQL, RabbitMQ and a real SMTP server whose messages the tests read."""

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.identity import cli
from services.identity.domain.register import RegisterLocation
from tests.support.identity import (
    Clock,
    context,
    identity_platform,
    location,
    mail_to,
    registration,
    scalar,
    token_in,
)
from tests.support.mail import SmtpSink
from tests.support.platform import Platform, eventually

pytestmark = pytest.mark.integration

CQC_EMAIL = "manager@birch.example"
REGISTER: list[RegisterLocation] = [location("1-B1", CQC_EMAIL, "VB001")]
NEW_PASSWORD = "fern kettle orbit 42"


@pytest.fixture(scope="module")
async def platform(mail: SmtpSink) -> AsyncIterator[Platform]:
    async with identity_platform(mail, REGISTER) as p:
        yield p


@pytest.fixture(autouse=True)
def clock(platform: Platform) -> Clock:
    moved = Clock()
    context(platform).clock = moved
    return moved


def client(platform: Platform) -> httpx.AsyncClient:
    return platform.client("identity")


# --- creating an account -----------------------------------------------------------------


async def test_an_account_exists_only_once_its_email_is_confirmed(
    platform: Platform, mail: SmtpSink
) -> None:
    email = "sam@hilltop.example"
    async with client(platform) as c:
        started = await c.post("/api/accounts", json=registration(" Sam@Hilltop.example"))
        assert started.status_code == 202, started.text
        early = await c.post(
            "/api/sign-in", json={"email": email, "password": "quiet lantern meadow"}
        )
        assert early.status_code == 401  # nothing can sign in before the link is used
        message = await mail_to(
            mail, email, "Confirm your email address to finish creating your account"
        )
        token = token_in(message)
        created = await c.post("/api/accounts/confirm", json={"token": token})
        assert created.status_code == 201, created.text
        again = await c.post("/api/accounts/confirm", json={"token": token})
        assert again.status_code == 400
        signed_in = await c.post(
            "/api/sign-in", json={"email": email, "password": "quiet lantern meadow"}
        )
        assert signed_in.status_code == 200
        me = await c.get(
            "/api/account", headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        )
    profile = me.json()
    assert profile["kind"] == "non_cqc" and profile["role"] == "provider"
    assert profile["organisation"]["postcode"] == "YO1 7HH"
    identity = platform.service("identity")
    event = await scalar(
        identity,
        "SELECT body FROM outbox WHERE event_type = 'AccountRegistered' ORDER BY id DESC LIMIT 1",
    )
    assert '"non_cqc"' in event and '"Sam Patel"' in event
    assert (
        await scalar(
            identity, "SELECT count(*) FROM pending_registrations WHERE email = :e", e=email
        )
        == 0
    )


async def test_registering_a_known_email_answers_the_same_and_tells_the_owner(
    platform: Platform, mail: SmtpSink
) -> None:
    async with client(platform) as c:
        first = await c.post("/api/accounts", json=registration("owner@hilltop.example"))
        await mail_to(
            mail,
            "owner@hilltop.example",
            "Confirm your email address to finish creating your account",
        )
        token = token_in(mail.messages[-1])
        assert (await c.post("/api/accounts/confirm", json={"token": token})).status_code == 201
        second = await c.post("/api/accounts", json=registration("owner@hilltop.example"))
    assert second.status_code == first.status_code == 202
    assert second.json() == first.json()
    await mail_to(mail, "owner@hilltop.example", "You already have an account")


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"email": "not-an-email"}, "email", "correct format"),
        ({"postcode": "12345"}, "postcode", "real postcode"),
        ({"phone": "call me"}, "phone", "telephone number"),
        ({"organisation_type": "cqc"}, "organisation_type", "must be one of"),
        ({"contact_name": ""}, "contact_name", "must not be empty"),
        ({"password": "password1"}, "password", "too easy to guess"),
        ({"password": "short"}, "password", "at least 8 characters"),
    ],
)
async def test_bad_details_say_what_to_fix_and_store_nothing(
    platform: Platform, changes: dict[str, Any], field: str, words: str
) -> None:
    email = f"bad-{field}@hilltop.example"
    async with client(platform) as c:
        response = await c.post("/api/accounts", json=registration(email, **changes))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert any(e["field"] == field and words in e["message"] for e in errors), errors
    identity = platform.service("identity")
    assert (
        await scalar(
            identity, "SELECT count(*) FROM pending_registrations WHERE email = :e", e=email
        )
        == 0
    )
    assert await scalar(identity, "SELECT count(*) FROM accounts WHERE email = :e", e=email) == 0


async def test_wrong_content_type_and_oversized_bodies_get_clear_problems(
    platform: Platform,
) -> None:
    async with client(platform) as c:
        form = await c.post(
            "/api/sign-in",
            content=b"email=a&password=b",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        huge = await c.post(
            "/api/accounts",
            content=b"{" + b" " * 100_000 + b"}",
            headers={"Content-Type": "application/json"},
        )
        broken = await c.post(
            "/api/sign-in", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert form.status_code == 415 and "application/json" in form.json()["detail"]
    assert huge.status_code == 413 and "too large" in huge.json()["title"].lower()
    assert broken.status_code == 422
    for response in (form, huge, broken):
        assert response.headers["content-type"] == "application/problem+json"


# --- forgotten password --------------------------------------------------------------------


async def test_a_reset_link_works_once_and_replaces_the_register_code(
    platform: Platform, mail: SmtpSink
) -> None:
    async with client(platform) as c:
        before = await c.post("/api/sign-in", json={"email": CQC_EMAIL, "password": "VB001"})
        assert before.status_code == 200
        asked = await c.post("/api/password-reset", json={"email": CQC_EMAIL.upper()})
        assert asked.status_code == 202
        token = token_in(await mail_to(mail, CQC_EMAIL, "Reset your password"))
        assert (await c.post("/api/password-reset/check", json={"token": token})).status_code == 204
        weak = await c.post(
            "/api/password-reset/confirm", json={"token": token, "password": "password"}
        )
        assert weak.status_code == 422
        done = await c.post(
            "/api/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
        )
        assert done.status_code == 204
        reused = await c.post(
            "/api/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD + "x"}
        )
        assert reused.status_code == 400
        assert "expired or has already been used" in reused.json()["title"]
        by_code = await c.post("/api/sign-in", json={"email": CQC_EMAIL, "password": "VB001"})
        by_password = await c.post(
            "/api/sign-in", json={"email": CQC_EMAIL, "password": NEW_PASSWORD}
        )
        old_session = await c.post(
            "/api/token", json={"refresh_token": before.json()["refresh_token"]}
        )
    assert by_code.status_code == 401  # the public code no longer opens the account
    assert by_password.status_code == 200
    assert by_password.json()["locations"][0]["location_id"] == "1-B1"
    assert old_session.status_code == 401  # every earlier session ended
    await mail_to(mail, CQC_EMAIL, "Your password has been changed")


async def test_reset_answers_the_same_for_unknown_emails_and_sends_nothing(
    platform: Platform, mail: SmtpSink
) -> None:
    async with client(platform) as c:
        t0 = time.perf_counter()
        unknown = await c.post("/api/password-reset", json={"email": "nobody@nowhere.example"})
        t1 = time.perf_counter()
        known = await c.post("/api/password-reset", json={"email": "sam@hilltop.example"})
        t2 = time.perf_counter()
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    assert abs((t1 - t0) - (t2 - t1)) < 0.05
    await mail_to(mail, "sam@hilltop.example", "Reset your password")
    assert all(m["To"] != "nobody@nowhere.example" for m in mail.messages)


async def test_reset_links_expire_and_a_newer_one_cancels_the_older(
    platform: Platform, mail: SmtpSink, clock: Clock
) -> None:
    email = "owner@hilltop.example"
    async with client(platform) as c:
        count = len(mail.messages)
        await c.post("/api/password-reset", json={"email": email})
        await eventually(lambda: _more(mail, count), timeout=10)
        older = token_in(mail.messages[-1])
        count = len(mail.messages)
        await c.post("/api/password-reset", json={"email": email})
        await eventually(lambda: _more(mail, count), timeout=10)
        newer = token_in(mail.messages[-1])
        cancelled = await c.post(
            "/api/password-reset/confirm", json={"token": older, "password": NEW_PASSWORD}
        )
        clock.advance(minutes=31)
        expired = await c.post(
            "/api/password-reset/confirm", json={"token": newer, "password": NEW_PASSWORD}
        )
    assert cancelled.status_code == 400
    assert expired.status_code == 400


async def _more(sink: SmtpSink, than: int) -> bool:
    return len(sink.messages) > than


async def test_reset_requests_are_limited_per_address(platform: Platform) -> None:
    """Three reset emails an hour per address: the form cannot be used to flood an inbox,
    and the answer never changes."""
    email = "sam@hilltop.example"
    identity = platform.service("identity")
    async with identity.db.transaction() as session:
        await session.execute(text("DELETE FROM throttle WHERE scope = 'reset'"))
    before = await scalar(identity, "SELECT coalesce(max(id), 0) FROM audit_events")
    async with client(platform) as c:
        answers = [await c.post("/api/password-reset", json={"email": email}) for _ in range(5)]
    assert {r.status_code for r in answers} == {202}
    assert len({r.text for r in answers}) == 1
    sent = await scalar(
        identity,
        "SELECT string_agg(detail->>'sent', ',' ORDER BY id) FROM audit_events "
        "WHERE action = 'reset_requested' AND id > :before",
        before=before,
    )
    assert sent == "true,true,true,false,false"


# --- staff ---------------------------------------------------------------------------------


async def test_staff_accounts_come_from_the_command_and_choose_a_password_by_link(
    platform: Platform,
    mail: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CARE_IDENTITY_DATABASE_URL", platform.database_url("identity"))
    monkeypatch.setenv("CARE_IDENTITY_PUBLIC_SITE_URL", "http://site.test")
    code = await _in_thread(
        cli.main,
        ["staff", "create", "--email", "Cs.Lead@dhsc.example", "--role", "customer_service"],
    )
    assert code == 0, capsys.readouterr().err
    assert "customer_service account for cs.lead@dhsc.example" in capsys.readouterr().out
    duplicate = await _in_thread(
        cli.main, ["staff", "create", "--email", "cs.lead@dhsc.example", "--role", "operations"]
    )
    assert duplicate == 1
    invitation = await mail_to(mail, "cs.lead@dhsc.example", "Your CARE badges staff account")
    async with client(platform) as c:
        no_password = await c.post(
            "/api/sign-in", json={"email": "cs.lead@dhsc.example", "password": "anything at all"}
        )
        assert no_password.status_code == 401
        chosen = await c.post(
            "/api/password-reset/confirm",
            json={"token": token_in(invitation), "password": NEW_PASSWORD},
        )
        assert chosen.status_code == 204
        signed_in = await c.post(
            "/api/sign-in", json={"email": "cs.lead@dhsc.example", "password": NEW_PASSWORD}
        )
    assert signed_in.status_code == 200
    assert signed_in.json()["role"] == "customer_service"
    assert signed_in.json()["kind"] == "staff"


async def test_self_registration_cannot_make_staff(platform: Platform) -> None:
    async with client(platform) as c:
        response = await c.post(
            "/api/accounts", json=registration("x@y.example", role="operations")
        )
    assert response.status_code == 422


async def _in_thread(fn: Any, *args: Any) -> Any:
    """The CLI runs its own event loop, so it runs beside the test's, as an operator's would."""
    import asyncio

    return await asyncio.to_thread(fn, *args)
