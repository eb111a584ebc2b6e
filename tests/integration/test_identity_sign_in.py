"""Signing in on real PostgreSQL and RabbitMQ: register codes, several locations per email,
postcode categories, lockout, per-address limits, enumeration, sessions and the audit trail.

Time is moved by replacing identity's clock, never by sleeping.
"""

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.identity.domain.throttle import Window
from shared.events import AccountRegistered, parse
from shared.http.auth import TokenVerifier
from tests.support.identity import Clock, context, identity_platform, location, scalar
from tests.support.keys import bearer, keypair, mint
from tests.support.mail import SmtpSink
from tests.support.platform import Platform, eventually
from tests.support.round_trips import recording

pytestmark = pytest.mark.integration

MULTI = "manager@willow.example"
POSTCODE_CATEGORIES = {
    "Hospice services": "1-HOSP",
    "Community substance misuse": "1-CSM",
    "Residential substance misuse": "1-RSM",
    "Mental health - community & hospital independent": "1-MHC",
}


REGISTER = [
    location("1-W1", MULTI, "VW001"),
    location("1-W2", MULTI, "VW002"),
    location("1-W3", MULTI, "VW003"),
    location("1-SOLO", "solo@rose.example", "VR001", postcode="E18 2NS"),
    location("1-ONCE", "once@rose.example", "VO001"),
    location("1-SINGLE", "single@rose.example", "VS001"),
    *(
        location(
            loc_id,
            f"{loc_id.lower()}@postcode.example",
            None,
            inspection_category=category,
            postcode="DL8 7LA",
        )
        for category, loc_id in POSTCODE_CATEGORIES.items()
    ),
    *(location(f"1-L{i}", f"lock{i}@rose.example", f"VL{i:03d}") for i in range(12)),
    location("1-T1", "twins@rose.example", "VT001"),
    location("1-T2", "twins@rose.example", "VT002"),
    location("1-J1", "joins@rose.example", "VJ001"),
    location("1-J2", "joins@rose.example", "VJ002"),
    location("1-C1", "counted@rose.example", "VC001"),
    location("1-R1", "round-trips@rose.example", "VRT01"),
    location("1-F1", "first-trips@rose.example", "VFT01"),
    location("1-S1", "sessionless@rose.example", "VSL01"),
    location("1-S2", "sessionless@rose.example", "VSL02"),
]


@pytest.fixture(scope="module")
async def platform(mail: SmtpSink) -> AsyncIterator[Platform]:
    async with identity_platform(mail, REGISTER) as p:
        yield p


@pytest.fixture(autouse=True)
def clock(platform: Platform) -> Clock:
    """Every test starts at the real time, whatever the test before did to the clock."""
    moved = Clock()
    context(platform).clock = moved
    return moved


def client(platform: Platform, source: str = "203.0.113.1") -> httpx.AsyncClient:
    """A client whose requests come from ``source`` (through the trusted local proxy)."""
    c = platform.client("identity")
    c.headers["X-Forwarded-For"] = source
    return c


async def sign_in(c: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await c.post("/api/sign-in", json={"email": email, "password": password})


def authorised(response: httpx.Response) -> list[str]:
    """The locations a successful sign-in authorised: those the answer lists, which must be
    exactly those its token's ``loc`` claim lets the holder order for."""
    assert response.status_code == 200, response.text
    body = response.json()
    listed = sorted(loc["location_id"] for loc in body["locations"])
    verifier = TokenVerifier(keypair().public_pem, "care-identity")
    assert sorted(verifier.verify(body["access_token"]).locations) == listed
    return listed


# --- register codes --------------------------------------------------------------------


async def test_one_email_signs_in_with_each_location_and_can_order_for_all(
    platform: Platform,
) -> None:
    async with client(platform) as c:
        grown = [
            authorised(await sign_in(c, "  Manager@Willow.EXAMPLE ", ods))
            for ods in ("VW001", " vw 002 ", "VW003")
        ]
        # Each code adds its own location to those already held, and only that one.
        assert grown == [["1-W1"], ["1-W1", "1-W2"], ["1-W1", "1-W2", "1-W3"]]
        again = await sign_in(c, MULTI, "VW002")
        assert authorised(again) == ["1-W1", "1-W2", "1-W3"]
        body = again.json()
        me = await c.get(
            "/api/account", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
    assert me.status_code == 200
    assert sorted(loc["location_id"] for loc in me.json()["locations"]) == ["1-W1", "1-W2", "1-W3"]
    identity = platform.service("identity")
    published = await scalar(
        identity,
        "SELECT body FROM outbox WHERE event_type = 'LocationsAuthorised' ORDER BY id DESC LIMIT 1",
    )
    assert '"1-W3"' in published and '"1-W1"' in published
    assert "willow.example" not in published  # locations carry no email
    assert await scalar(identity, "SELECT count(*) FROM accounts WHERE email = :e", e=MULTI) == 1


async def test_a_first_sign_in_announces_the_account_with_its_locations_in_one_event(
    platform: Platform,
) -> None:
    """Orders and verification need both the account and its locations: a first sign-in
    sends them in one AccountRegistered (ADR 0082), not a LocationsAuthorised beside it."""
    async with client(platform, "203.0.113.13") as c:
        first = await sign_in(c, "single@rose.example", "VS001")
    account_id = first.json()["account_id"]
    identity = platform.service("identity")
    body = await scalar(
        identity,
        "SELECT body FROM outbox WHERE event_type = 'AccountRegistered' AND body LIKE :a",
        a=f"%{account_id}%",
    )
    registered = parse(body)
    assert registered.version == 2
    assert isinstance(registered.payload, AccountRegistered)
    assert [loc.location_id for loc in registered.payload.locations] == authorised(first)
    assert await _events_about(identity, "LocationsAuthorised", account_id) == 0


async def test_locations_are_announced_only_when_they_change(platform: Platform) -> None:
    """A repeat sign-in with nothing new announces nothing (the first sign-in's registration
    carried the locations); a change on the register since the last announcement sends a
    LocationsAuthorised, with the new details."""
    identity = platform.service("identity")

    async def announced() -> list[str]:
        async with identity.db.transaction() as session:
            rows = await session.execute(
                text(
                    "SELECT body FROM outbox WHERE event_type IN "
                    "('AccountRegistered', 'LocationsAuthorised') "
                    "AND body LIKE '%1-ONCE%' ORDER BY id"
                )
            )
            return list(rows.scalars())

    async with client(platform) as c:
        for _ in range(3):
            assert authorised(await sign_in(c, "once@rose.example", "VO001")) == ["1-ONCE"]
        assert len(await announced()) == 1
        async with identity.db.transaction() as session:
            await session.execute(
                text(
                    "UPDATE register_locations SET name = 'Once House', updated_at = now() "
                    "WHERE location_id = '1-ONCE'"
                )
            )
        assert authorised(await sign_in(c, "once@rose.example", "VO001")) == ["1-ONCE"]
        assert authorised(await sign_in(c, "once@rose.example", "VO001")) == ["1-ONCE"]
    bodies = await announced()
    assert len(bodies) == 2
    assert "Once House" in bodies[1]


async def _events_about(identity: Any, event_type: str, account_id: str) -> int:
    return int(
        await scalar(
            identity,
            "SELECT count(*) FROM outbox WHERE event_type = :t AND body LIKE :a",
            t=event_type,
            a=f"%{account_id}%",
        )
    )


async def test_a_first_sign_in_makes_the_account_and_announces_it_once(
    platform: Platform,
) -> None:
    """Two first sign-ins at once with an email's two codes: one account holding both
    locations, registered once; each answer's token names what its account then held."""
    async with client(platform, "203.0.113.11") as c:
        answers = await asyncio.gather(
            sign_in(c, "twins@rose.example", "VT001"), sign_in(c, "twins@rose.example", "VT002")
        )
    # Fewest first: sorted as lists, ["1-T2"] would come after ["1-T1", "1-T2"].
    held = sorted((authorised(answer) for answer in answers), key=len)
    assert held[-1] == ["1-T1", "1-T2"] and held[0] in (["1-T1"], ["1-T2"], ["1-T1", "1-T2"])
    account_id = answers[0].json()["account_id"]
    assert answers[1].json()["account_id"] == account_id
    identity = platform.service("identity")
    assert await _events_about(identity, "AccountRegistered", account_id) == 1
    # The registration carried the first one's location; the other's joined it after.
    assert await _events_about(identity, "LocationsAuthorised", account_id) == 1
    reported = "SELECT count(*) FROM outbox WHERE event_type = 'AccountRegisteredForReporting'"
    assert await scalar(identity, reported) >= 1
    assert (
        await scalar(
            identity, "SELECT count(*) FROM account_locations WHERE account_id = :a", a=account_id
        )
        == 2
    )


async def test_a_first_sign_in_joins_an_account_made_after_it_read(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account is made between the sign-in's read and its insert (a reset link used at
    that moment): the sign-in adds its location to that account and registers no other."""
    from services.identity.store import sign_in as sign_in_store

    async with client(platform, "203.0.113.12") as c:
        first = await sign_in(c, "joins@rose.example", "VJ001")
        account_id = first.json()["account_id"]
        read = sign_in_store.read

        async def before_the_account(session: Any, email: str) -> sign_in_store.SignInView:
            view = await read(session, email)
            return sign_in_store.SignInView(view.closed, None, view.locations)

        monkeypatch.setattr(sign_in_store, "read", before_the_account)
        second = await sign_in(c, "joins@rose.example", "VJ002")
    assert authorised(second) == ["1-J1", "1-J2"]
    assert second.json()["account_id"] == account_id
    identity = platform.service("identity")
    assert await _events_about(identity, "AccountRegistered", account_id) == 1
    assert await _events_about(identity, "LocationsAuthorised", account_id) == 1


@pytest.mark.parametrize(("category", "location_id"), sorted(POSTCODE_CATEGORIES.items()))
async def test_the_four_categories_sign_in_with_the_postcode(
    platform: Platform, category: str, location_id: str
) -> None:
    async with client(platform, "203.0.113.2") as c:
        response = await sign_in(c, f"{location_id.lower()}@postcode.example", "dl87la")
    assert response.status_code == 200, (category, response.text)
    assert authorised(response) == [location_id]


async def test_other_categories_cannot_use_the_postcode(platform: Platform) -> None:
    async with client(platform, "203.0.113.3") as c:
        refused = await sign_in(c, "solo@rose.example", "E18 2NS")
        allowed = await sign_in(c, "solo@rose.example", "vr001")
    assert refused.status_code == 401
    assert authorised(allowed) == ["1-SOLO"]


# --- enumeration ---------------------------------------------------------------------------


async def _timed(c: httpx.AsyncClient, email: str, password: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await sign_in(c, email, password)
    return response, time.perf_counter() - started


def _comparable(response: httpx.Response) -> tuple[int, dict[str, Any], str]:
    return response.status_code, response.json(), response.headers["content-type"]


async def test_unknown_email_and_wrong_code_answer_alike(platform: Platform) -> None:
    """Same status, same body, same time within noise: sign-in does not reveal accounts."""
    known, unknown = [], []
    async with client(platform, "203.0.113.4") as c:
        for i in range(4):  # under the lockout threshold for each email
            r1, t1 = await _timed(c, "lock0@rose.example", f"WRONG{i}")
            r2, t2 = await _timed(c, f"nobody{i}@rose.example", "VL000")
            assert _comparable(r1) == _comparable(r2)
            known.append(t1)
            unknown.append(t2)
    assert abs(statistics.median(known) - statistics.median(unknown)) < 0.05
    assert min(known + unknown) >= 0.15  # the uniform floor applies to both


# --- brute force ---------------------------------------------------------------------------


async def test_lockout_after_five_failures_refuses_even_the_right_code_then_expires(
    platform: Platform, clock: Clock
) -> None:
    async with client(platform, "203.0.113.5") as c:
        for i in range(5):
            assert (await sign_in(c, "lock1@rose.example", f"NOPE{i}")).status_code == 401
        locked = await sign_in(c, "LOCK1@rose.example ", "VL001")  # a variant is the same account
        assert locked.status_code == 429
        assert locked.headers["Retry-After"] == "60"
        assert "too many attempts" in locked.json()["detail"].lower()
        clock.advance(seconds=61)
        assert authorised(await sign_in(c, "lock1@rose.example", "VL001")) == ["1-L1"]
        # the success cleared the count: five more failures are needed to lock again
        for i in range(4):
            assert (await sign_in(c, "lock1@rose.example", f"NOPE{i}")).status_code == 401
        assert authorised(await sign_in(c, "lock1@rose.example", "VL001")) == ["1-L1"]
    identity = platform.service("identity")
    assert (
        await scalar(identity, "SELECT count(*) FROM audit_events WHERE action = 'locked_out'") >= 1
    )


async def test_unknown_emails_lock_the_same_way(platform: Platform, clock: Clock) -> None:
    async with client(platform, "203.0.113.6") as c:
        answers = [(await sign_in(c, "ghost@rose.example", f"X{i}")).status_code for i in range(6)]
    assert answers == [401] * 5 + [429]


async def test_parallel_wrong_attempts_each_count(platform: Platform, clock: Clock) -> None:
    async with client(platform, "203.0.113.7") as c:
        answers = await asyncio.gather(
            *(sign_in(c, "lock2@rose.example", f"PAR{i}") for i in range(12))
        )
        codes = sorted(r.status_code for r in answers)
        right = await sign_in(c, "lock2@rose.example", "VL002")
    assert codes == [401] * 5 + [429] * 7
    assert right.status_code == 429


async def _account_counters(platform: Platform, email: str) -> list[int]:
    """The counts on the account's brute-force counter (none when it has no counter)."""
    async with platform.service("identity").db.transaction() as session:
        rows = await session.execute(
            text("SELECT count FROM throttle WHERE scope = 'account' AND key = :k"),
            {"k": context(platform).subject_key(email)},
        )
        return list(rows.scalars())


async def test_a_failure_is_counted_and_a_success_leaves_no_counter(
    platform: Platform, clock: Clock
) -> None:
    async with client(platform, "203.0.113.13") as c:
        assert (await sign_in(c, "counted@rose.example", "NOPE")).status_code == 401
        assert await _account_counters(platform, "counted@rose.example") == [1]
        assert (await sign_in(c, "counted@rose.example", "NOPE")).status_code == 401
        assert await _account_counters(platform, "counted@rose.example") == [2]
        assert authorised(await sign_in(c, "counted@rose.example", "VC001")) == ["1-C1"]
        assert await _account_counters(platform, "counted@rose.example") == []
        assert authorised(await sign_in(c, "counted@rose.example", "VC001")) == ["1-C1"]
        assert await _account_counters(platform, "counted@rose.example") == []


async def test_a_sign_in_opens_its_session_audits_and_clears_its_counter_in_one_statement(
    platform: Platform,
) -> None:
    """Every sign-in runs these, so each round trip counts: the counter locked (the address's
    read with it), what the email has, the account's locations, and then the session, the
    audit row and the counter cleared together (three statements until this one)."""
    email, identity = "round-trips@rose.example", platform.service("identity")
    async with client(platform, "203.0.113.14") as c:
        assert authorised(await sign_in(c, email, "VRT01")) == ["1-R1"]  # makes the account
        assert (await sign_in(c, email, "NOPE")).status_code == 401
        assert await _account_counters(platform, email) == [1]
        with recording() as sent, sent.labelled("sign-in"):
            assert authorised(await sign_in(c, email, "VRT01")) == ["1-R1"]
    statements = [" ".join(s.sql.split()) for s in sent.of("sign-in")]
    assert len(statements) == 4, statements
    assert await _account_counters(platform, email) == []
    account = await scalar(identity, "SELECT id FROM accounts WHERE email = :e", e=email)
    audited = await scalar(
        identity,
        "SELECT string_agg(action || ' ' || (detail ->> 'method'), ',') FROM audit_events"
        " WHERE account_id = :a AND action = 'signed_in'",
        a=account,
    )
    assert audited == "signed_in register,signed_in register"
    assert await scalar(identity, "SELECT count(*) FROM sessions WHERE account_id = :a", a=account)


async def test_a_first_sign_in_writes_its_registration_with_its_session(
    platform: Platform,
) -> None:
    """A first sign-in's events ride on its last statement, the session's, not one of their
    own before the commit (shared/store/outbox.carrying_insert): the counter, the email's
    view, the account made, then the session with its audit row and the two events. They are
    published from memory as any committed event is."""
    email, identity = "first-trips@rose.example", platform.service("identity")
    async with client(platform, "203.0.113.15") as c:
        with recording() as sent, sent.labelled("sign-in"):
            answer = await sign_in(c, email, "VFT01")
    assert authorised(answer) == ["1-F1"]
    statements = [" ".join(s.sql.split()) for s in sent.of("sign-in")]
    assert len(statements) == 4, statements
    assert not [s for s in statements if s.startswith("INSERT INTO outbox")], statements
    assert "INSERT INTO outbox" in statements[-1] and "INSERT INTO sessions" in statements[-1]
    account_id = answer.json()["account_id"]
    assert await _events_about(identity, "AccountRegistered", account_id) == 1
    unpublished = (
        "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        " AND event_type IN ('AccountRegistered', 'AccountRegisteredForReporting')"
        " AND body LIKE :a"
    )

    async def published() -> bool:
        return await scalar(identity, unpublished, a=f"%{account_id}%") == 0

    assert await eventually(published)


async def test_one_source_address_is_limited_across_accounts(
    platform: Platform, clock: Clock
) -> None:
    ctx = context(platform)
    ctx.__dict__["source_limit"] = Window(limit=6, window=timedelta(minutes=15))
    try:
        async with client(platform, "198.51.100.9") as c:
            codes = [
                (await sign_in(c, f"lock{3 + i}@rose.example", "WRONG")).status_code
                for i in range(7)
            ]
            right = await sign_in(c, "lock9@rose.example", "VL009")
        # Refused before it was counted: the account is left without a counter of its own.
        assert await _account_counters(platform, "lock9@rose.example") == []
        async with client(platform, "198.51.100.10") as other:
            elsewhere = await sign_in(other, "lock9@rose.example", "VL009")
    finally:
        del ctx.__dict__["source_limit"]
    assert codes == [401] * 6 + [429]
    assert right.status_code == 429
    assert authorised(elsewhere) == ["1-L9"]


# --- sessions ------------------------------------------------------------------------------


async def _signed_in(platform: Platform, n: int) -> dict[str, Any]:
    """Signed in as lock{n}@rose.example, holder of location 1-L{n} alone."""
    async with client(platform, "203.0.113.8") as c:
        response = await sign_in(c, f"lock{n}@rose.example", f"VL{n:03d}")
    assert authorised(response) == [f"1-L{n}"]
    body: dict[str, Any] = response.json()
    return body


async def test_refresh_rotates_and_a_replayed_token_ends_the_session(
    platform: Platform, clock: Clock
) -> None:
    first = await _signed_in(platform, 10)
    async with client(platform) as c:
        renewed = await c.post("/api/token", json={"refresh_token": first["refresh_token"]})
        assert authorised(renewed) == ["1-L10"]  # a renewal keeps what the sign-in authorised
        second = renewed.json()
        assert second["refresh_token"] != first["refresh_token"]
        replay = await c.post("/api/token", json={"refresh_token": first["refresh_token"]})
        assert replay.status_code == 401
        after = await c.post("/api/token", json={"refresh_token": second["refresh_token"]})
        assert after.status_code == 401  # the replay revoked the whole session


async def test_sign_out_and_idle_timeout_end_the_session(platform: Platform, clock: Clock) -> None:
    one = await _signed_in(platform, 11)
    two = await _signed_in(platform, 11)
    async with client(platform) as c:
        out = await c.post(
            "/api/sign-out", headers={"Authorization": f"Bearer {one['access_token']}"}
        )
        assert out.status_code == 204
        assert (
            await c.post("/api/token", json={"refresh_token": one["refresh_token"]})
        ).status_code == 401
        clock.advance(minutes=31)
        assert (
            await c.post("/api/token", json={"refresh_token": two["refresh_token"]})
        ).status_code == 401


async def test_disabling_an_account_ends_its_sessions_and_sign_in(
    platform: Platform, clock: Clock
) -> None:
    session = await _signed_in(platform, 8)
    staff = mint("customer_service")
    provider = mint("provider")
    async with client(platform) as c:
        forbidden = await c.post(
            f"/api/accounts/{session['account_id']}/disable",
            json={"reason": "asked by phone"},
            headers={"Authorization": f"Bearer {provider}"},
        )
        assert forbidden.status_code == 403
        done = await c.post(
            f"/api/accounts/{session['account_id']}/disable",
            json={"reason": "asked by phone"},
            headers={"Authorization": f"Bearer {staff}"},
        )
        assert done.status_code == 204
        assert (
            await c.post("/api/token", json={"refresh_token": session["refresh_token"]})
        ).status_code == 401
        assert (await sign_in(c, "lock8@rose.example", "VL008")).status_code == 401
        missing = await c.post(
            f"/api/accounts/{uuid.uuid4()}/disable",
            json={"reason": "x"},
            headers={"Authorization": f"Bearer {staff}"},
        )
        assert missing.status_code == 404


async def test_anonymising_removes_the_holder_and_tells_every_service(
    platform: Platform, clock: Clock
) -> None:
    session = await _signed_in(platform, 7)
    staff = mint("customer_service")
    async with client(platform) as c:
        done = await c.post(
            f"/api/accounts/{session['account_id']}/anonymise",
            json={"reason": "holder asked by email"},
            headers={"Authorization": f"Bearer {staff}"},
        )
        assert done.status_code == 204
        renewed = await c.post("/api/token", json={"refresh_token": session["refresh_token"]})
        assert renewed.status_code == 401
    identity = platform.service("identity")
    email = await scalar(
        identity, "SELECT email FROM accounts WHERE id = :id", id=session["account_id"]
    )
    assert email.startswith("anonymised-") and "rose.example" not in email
    event = await scalar(
        identity,
        "SELECT body FROM outbox WHERE event_type = 'AccountAnonymised' ORDER BY id DESC LIMIT 1",
    )
    assert session["account_id"] in event


async def test_the_audit_trail_never_holds_what_was_typed(platform: Platform) -> None:
    identity = platform.service("identity")
    dump = await scalar(
        identity,
        "SELECT string_agg(action || ' ' || coalesce(detail::text, ''), '\n') FROM audit_events",
    )
    # What was typed is written with letters no id contains: "BAD0" once matched a UUID.
    for typed in ("VL000", "WRONG", "NOPE0", "dl87la", "lock0@rose.example"):
        assert typed.lower() not in dump.lower()
    assert "signed_in" in dump and "sign_in_failed" in dump


async def test_a_provider_adds_its_other_locations_from_inside_the_account(
    platform: Platform,
) -> None:
    """Issue 16, item 12: sign in once, then add each other location by its code, with the
    same checks, limits and audit as sign-in; the fresh token names the new location."""
    async with platform.client("identity") as client:
        first = await client.post("/api/sign-in", json={"email": MULTI, "password": "VW001"})
        assert first.status_code == 200, first.text
        token = first.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        wrong = await client.post("/api/account/locations", json={"code": "VR001"}, headers=headers)
        assert wrong.status_code == 422
        assert wrong.json()["errors"][0]["field"] == "code"

        added = await client.post("/api/account/locations", json={"code": "vw002"}, headers=headers)
        body = added.json()
    assert {"1-W1", "1-W2"} <= set(authorised(added))
    identity = platform.service("identity")
    account_id = uuid.UUID(body["account_id"])
    audited = "SELECT action, count(*) FROM audit_events WHERE account_id = :a GROUP BY action"
    async with identity.db.transaction() as session:
        rows = (await session.execute(text(audited), {"a": account_id})).all()
    counts: dict[str, int] = {action: count for action, count in rows}
    assert counts["location_added"] == 1 and counts["location_add_failed"] == 1


async def test_a_token_naming_no_session_adds_a_location_in_a_session_opened_as_at_sign_in(
    platform: Platform,
) -> None:
    """Identity mints every token with its session; one without (as tests mint them) adding
    a location gets a new session, written as a sign-in writes it: with a ``signed_in`` audit
    row and the attempt counter cleared, in the same statement."""
    email, identity = "sessionless@rose.example", platform.service("identity")
    async with client(platform, "203.0.113.15") as c:
        first = await sign_in(c, email, "VSL01")
        account_id = uuid.UUID(first.json()["account_id"])
        token = mint("provider", account_id=account_id, kind="cqc", locations=["1-S1"])
        added = await c.post(
            "/api/account/locations", json={"code": "VSL02"}, headers=bearer(token)
        )
    assert {"1-S1", "1-S2"} <= set(authorised(added))
    assert await _account_counters(platform, email) == []
    opened = "SELECT count(*) FROM sessions WHERE account_id = :a"
    assert await scalar(identity, opened, a=account_id) == 2
    audited = "SELECT count(*) FROM audit_events WHERE account_id = :a AND action = 'signed_in'"
    assert await scalar(identity, audited, a=account_id) == 2
