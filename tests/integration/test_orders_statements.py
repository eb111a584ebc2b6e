"""How many statements orders runs on its hot paths (docs/adr/0054-cost-per-order-levers.md):
identity's account events (a first sign-in's registration carrying its locations, ADR 0082;
a LocationsAuthorised for later changes), placing an order, and its status steps. Each count
is of the statements in the one transaction, BEGIN and COMMIT aside; the work each does is
checked beside it, so a count kept by dropping work fails too.

Also the rules those statements fold in that no other test pins: a registration (or locations)
arriving after the account was anonymised keeps nothing, one overtaken by a correction keeps
the correction's details, and a registration consumed after a newer LocationsAuthorised keeps
the newer location details.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from services.orders.domain import emails
from services.orders.domain.order import Status
from services.orders.store import repository
from services.orders.store.tables import (
    authorised_locations,
    awaiting_details,
    email_outbox,
    registered_accounts,
)
from services.orders.usecases import accounts, privacy, progress
from services.orders.usecases.orderable import orderable
from shared.email.outbox import EMAILS_QUEUED
from shared.events import (
    AccountDetailsCorrected,
    AccountKind,
    AccountRegistered,
    Location,
    LocationsAuthorised,
)
from shared.http.auth import Principal
from tests.support.keys import bearer, mint
from tests.support.platform import Platform
from tests.support.round_trips import TRANSACTION, RoundTrips, recording

pytestmark = pytest.mark.integration


@pytest.fixture
def statements() -> Iterator[RoundTrips]:
    with recording() as sent:
        yield sent


def placings(statements: RoundTrips) -> list[list[str]]:
    """Each order placing's transaction: the ones that began with the account's shared lock."""
    return [s for s in statements.sessions() if s and "lock_shared" in s[0]]


def location(location_id: str) -> Location:
    return Location(
        location_id=location_id,
        ods_code="VNX09",
        name="Alder House",
        address_line_1="9 Station Road",
        city="York",
        postcode="YO1 6AA",
        provider_id="1-909",
        provider_name="Alder Care Ltd",
        region="Yorkshire and The Humber",
        local_authority="York",
    )


async def place(platform: Platform, account_id: uuid.UUID, location_id: str) -> dict[str, Any]:
    token = mint("provider", account_id=account_id, kind="cqc", locations=[location_id])
    async with platform.client("orders") as client:
        response = await client.post(
            "/api/orders",
            json={
                "lines": [{"location_id": location_id, "staff_count": 5}],
                "deliver_to_location_id": location_id,
                "contact_name": "Jo Manager",
            },
            headers=bearer(token),
        )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def registered(
    platform: Platform,
    statements: RoundTrips,
    account_id: uuid.UUID,
    email: str,
    *location_ids: str,
) -> list[str]:
    """AccountRegistered, with a first sign-in's locations if any are given."""
    service = platform.service("orders")
    event = AccountRegistered(
        account_id=account_id,
        kind=AccountKind.CQC,
        email=email,
        locations=[location(loc) for loc in location_ids],
    )
    async with service.db.transaction() as session:
        await accounts.account_registered(service, session, event)
    return statements.in_session(session)


async def authorised(
    platform: Platform, statements: RoundTrips, account_id: uuid.UUID, *location_ids: str
) -> list[str]:
    service = platform.service("orders")
    async with service.db.transaction() as session:
        await accounts.locations_authorised(
            service,
            session,
            LocationsAuthorised(
                account_id=account_id, locations=[location(loc) for loc in location_ids]
            ),
        )
    return statements.in_session(session)


async def rows(platform: Platform, query: Any) -> list[Any]:
    async with platform.service("orders").db.transaction() as session:
        return list((await session.execute(query)).all())


async def outbox_bodies(platform: Platform, order_id: str, event_type: str) -> list[str]:
    table = platform.service("orders").outbox_table
    found = await rows(platform, select(table.c.body).where(table.c.event_type == event_type))
    return [r.body for r in found if order_id in r.body]


async def test_a_first_sign_ins_events_then_an_order_and_its_steps(
    platform: Platform, statements: RoundTrips
) -> None:
    """Nothing waits: each account event is the account's lock and one statement; the order
    is the lock, one read, one insert and its events; a step one statement, and a dispatch
    too, with its email (two until the email was queued by the step's statement)."""
    account_id, site, email = uuid.uuid4(), "1-STMTS0001", "alder.house@example.org"

    assert len(await registered(platform, statements, account_id, email)) == 2
    assert len(await authorised(platform, statements, account_id, site)) == 2
    [registration] = await rows(
        platform,
        select(registered_accounts).where(registered_accounts.c.account_id == account_id),
    )
    assert registration.email == email and registration.kind == "cqc"
    [kept] = await rows(
        platform,
        select(authorised_locations.c.details).where(
            authorised_locations.c.account_id == account_id
        ),
    )
    assert kept.details["postcode"] == "YO1 6AA"

    order = await place(platform, account_id, site)
    [placing] = placings(statements)
    assert len(placing) == 4, placing
    assert await outbox_bodies(platform, order["order_id"], "OrderPlaced")
    assert await outbox_bodies(platform, order["order_id"], "OrderPlacedForReporting")
    subjects = await rows(
        platform, select(email_outbox.c.subject).where(email_outbox.c.recipient == email)
    )
    assert [s.subject for s in subjects] == [f"CARE badges order {order['reference']} received"]

    db, order_id = platform.service("orders").db, uuid.UUID(order["order_id"])
    async with db.transaction() as step:
        await progress.record_step(step, order_id, Status.VERIFIED, datetime.now(UTC), "")
    assert len(statements.in_session(step)) == 1
    async with db.transaction() as dispatch:
        await progress.dispatched(dispatch, order_id, "SHIP-42", datetime.now(UTC))
        [queued] = dispatch.info[EMAILS_QUEUED]  # handed to the relay at the commit
    assert len(statements.in_session(dispatch)) == 1
    with recording(db.engine) as reading, reading.labelled("read"):
        seen = await repository.read_order(db, order_id)  # the order, lines and timeline
    assert reading.count("read") == 1 and reading.count("read", TRANSACTION) == 0
    assert seen is not None and seen["status"] == "dispatched"
    assert type(seen["id"]) is uuid.UUID and seen["account_id"] == account_id
    assert seen["lines"] == [{"location_id": site, "staff_count": 5}]
    assert [h["status"] for h in seen["history"]] == ["placed", "verified", "dispatched"]
    assert all(isinstance(h["occurred_at"], datetime) for h in seen["history"])
    assert seen["delivery"]["postcode"] == "YO1 6AA"
    sent = await rows(
        platform,
        select(email_outbox.c.id, email_outbox.c.subject, email_outbox.c.body)
        .add_columns(email_outbox.c.attachments)
        .where(email_outbox.c.recipient == email)
        .where(email_outbox.c.subject.like("%dispatched")),
    )
    assert [a["filename"] for r in sent for a in r.attachments] == ["care-poster.pdf"]
    # The row the sweep would send and the message the relay sends from memory are the email
    # orders writes for this order and shipment.
    expected = emails.order_dispatched(email, order["reference"], "SHIP-42")
    assert [(r.id, r.subject, r.body) for r in sent] == [
        (queued.email_id, expected.subject, expected.body)
    ]
    assert queued.message == expected


async def test_an_order_placed_before_the_events_costs_them_one_statement_more_each(
    platform: Platform, statements: RoundTrips
) -> None:
    """The order waits for both details (lock, read, insert); each event then fills in what
    it brings and settles the wait in its one statement, plus the emails or events it owes."""
    account_id, site, email = uuid.uuid4(), "1-STMTS0002", "alder.early@example.org"
    order = await place(platform, account_id, site)
    [placing] = placings(statements)
    assert len(placing) == 3, placing
    order_id = uuid.UUID(order["order_id"])
    waiting = select(awaiting_details).where(awaiting_details.c.order_id == order_id)
    [row] = await rows(platform, waiting)
    assert row.deliver_to == site and row.email_owed

    assert len(await registered(platform, statements, account_id, email)) == 3
    [row] = await rows(platform, waiting)
    assert row.deliver_to == site and not row.email_owed
    subjects = await rows(
        platform, select(email_outbox.c.subject).where(email_outbox.c.recipient == email)
    )
    assert [s.subject for s in subjects] == [f"CARE badges order {order['reference']} received"]

    assert len(await authorised(platform, statements, account_id, site, "1-STMTS0003")) == 3
    assert await rows(platform, waiting) == []
    assert len(await outbox_bodies(platform, order["order_id"], "OrderPlaced")) == 1
    stored = await repository.read_order(platform.service("orders").db, order_id)
    assert stored is not None and stored["notify_email"] == email
    assert stored["delivery"]["postcode"] == "YO1 6AA"
    assert stored["delivery"]["recipient_name"] == "Jo Manager"
    assert "awaiting" not in stored["delivery"]


async def test_a_first_sign_ins_registration_brings_its_locations_in_one_event(
    platform: Platform, statements: RoundTrips
) -> None:
    """One delivery instead of two (ADR 0082): the account's lock, the registration's
    statement and the locations' statement (the two events took two locks); an order that
    waited for both is sent on, with its email and OrderPlaced written (two more)."""
    account_id, site, email = uuid.uuid4(), "1-STMTS0004", "alder.one@example.org"
    order = await place(platform, account_id, site)
    assert len(await registered(platform, statements, account_id, email, site)) == 5
    order_id = uuid.UUID(order["order_id"])
    waiting = select(awaiting_details).where(awaiting_details.c.order_id == order_id)
    assert await rows(platform, waiting) == []
    assert len(await outbox_bodies(platform, order["order_id"], "OrderPlaced")) == 1
    stored = await repository.read_order(platform.service("orders").db, order_id)
    assert stored is not None and stored["notify_email"] == email
    assert stored["delivery"]["postcode"] == "YO1 6AA"

    # Registered first: the order has nothing to wait for and is announced at once.
    other, other_site = uuid.uuid4(), "1-STMTS0005"
    assert len(await registered(platform, statements, other, "b@example.org", other_site)) == 3
    later = await place(platform, other, other_site)
    assert len(placings(statements)[-1]) == 4
    assert len(await outbox_bodies(platform, later["order_id"], "OrderPlaced")) == 1


async def test_a_registration_after_the_account_was_anonymised_keeps_nothing(
    platform: Platform, statements: RoundTrips
) -> None:
    """Neither the registration nor the locations it carries, nor a LocationsAuthorised
    arriving as late."""
    account_id = uuid.uuid4()
    service = platform.service("orders")
    async with service.db.transaction() as session:
        await privacy.anonymise(service, session, account_id)
    await registered(platform, statements, account_id, "gone@example.org", "1-STMTS0006")
    await authorised(platform, statements, account_id, "1-STMTS0006")
    assert (
        await rows(
            platform,
            select(registered_accounts).where(registered_accounts.c.account_id == account_id),
        )
        == []
    )
    kept = authorised_locations.c.account_id == account_id
    assert await rows(platform, select(authorised_locations).where(kept)) == []


async def test_a_registration_consumed_late_keeps_the_newer_location_details(
    platform: Platform, statements: RoundTrips
) -> None:
    """A LocationsAuthorised (its own queue) may be consumed before the registration that
    carries the account's first snapshot of the same location: the newer details stay."""
    account_id, site = uuid.uuid4(), "1-STMTS0007"
    service = platform.service("orders")
    newer = location(site).model_copy(update={"name": "Alder House (renamed)"})
    async with service.db.transaction() as session:
        await accounts.locations_authorised(
            service, session, LocationsAuthorised(account_id=account_id, locations=[newer])
        )
    await registered(platform, statements, account_id, "late@example.org", site)
    kept = authorised_locations.c.account_id == account_id
    [row] = await rows(platform, select(authorised_locations.c.details).where(kept))
    assert row.details["name"] == "Alder House (renamed)"


async def test_a_registration_overtaken_by_a_correction_keeps_the_corrected_details(
    platform: Platform,
) -> None:
    account_id = uuid.uuid4()
    db = platform.service("orders").db
    async with db.transaction() as session:
        await accounts.details_corrected(
            session,
            AccountDetailsCorrected(
                account_id=account_id,
                organisation_name="Corrected Ltd",
                contact_name="Kim Holder",
                address_line_1="1 New Street",
                postcode="LS1 1AA",
                phone="0113 496 0000",
            ),
        )
    async with db.transaction() as session:
        await accounts.account_registered(
            platform.service("orders"),
            session,
            AccountRegistered(
                account_id=account_id,
                kind=AccountKind.LOCAL_AUTHORITY,
                email="kim@example.org",
                organisation_name="Old Name Ltd",
                contact_name="Kim Holder",
                address_line_1="1 Old Street",
                postcode="LS9 9ZZ",
            ),
        )
    [kept] = await rows(
        platform,
        select(registered_accounts).where(registered_accounts.c.account_id == account_id),
    )
    assert (kept.kind, kept.email) == ("local_authority", "kim@example.org")
    assert (kept.organisation_name, kept.address_line_1, kept.postcode) == (
        "Corrected Ltd",
        "1 New Street",
        "LS1 1AA",
    )


async def test_what_an_account_may_order_is_asked_in_one_statement(
    platform: Platform, statements: RoundTrips
) -> None:
    """The locations page asks it on every view and answer: one statement, no BEGIN."""
    account_id, ordered, free = uuid.uuid4(), "1-STMTS0009", "1-STMTS0010"
    await place(platform, account_id, ordered)
    principal = Principal(account_id, "provider", "cqc", frozenset({ordered, free}))
    known = {ordered: {"location_id": ordered}, free: {"location_id": free}}
    db = platform.service("orders").db

    with recording(db.engine) as asked, asked.labelled("ask"):
        can = await orderable(platform.service("orders"), principal, known)

    assert asked.count("ask") == 1 and asked.count("ask", TRANSACTION) == 0
    assert list(can.locations) == [free] and can.ordered == [{"location_id": ordered}]
    assert can.anything
