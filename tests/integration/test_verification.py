"""Verification on the real bus: referrals, reviewers' decisions, and orders that wait."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text

from services.verification.store.tables import accounts, audit_trail, authorisations
from services.verification.store.tables import orders as verification_orders
from shared.events import (
    AccountAnonymised,
    AccountKind,
    AccountRegistered,
    Location,
    LocationsAuthorised,
    OrderCancelled,
    wrap,
)
from tests.support.events import order_placed
from tests.support.keys import bearer, mint
from tests.support.platform import Platform, blocked_on_a_lock, eventually
from tests.support.round_trips import recording

pytestmark = pytest.mark.integration
REVIEWER = uuid.uuid4()


async def state_of(platform: Platform, order_id: uuid.UUID) -> dict[str, Any] | None:
    async with platform.service("verification").db.transaction() as s:
        row = (
            await s.execute(
                select(verification_orders).where(verification_orders.c.order_id == order_id)
            )
        ).first()
    return row._asdict() if row else None


async def in_state(platform: Platform, order_id: uuid.UUID, state: str) -> dict[str, Any] | None:
    order = await state_of(platform, order_id)
    return order if order and order["state"] == state else None


async def ledger(platform: Platform, order_id: uuid.UUID, kind: str) -> int:
    async with platform.service("dispatch").db.transaction() as s:
        return int(
            await s.scalar(
                text("SELECT count(*) FROM stock_ledger WHERE order_id = :o AND kind = :k"),
                {"o": order_id, "k": kind},
            )
            or 0
        )


async def decide(platform: Platform, order_id: uuid.UUID, token: str, **body: Any) -> Any:
    async with platform.client("verification") as verification:
        return await verification.post(
            f"/api/reviews/{order_id}/decision", json=body, headers=bearer(token)
        )


async def referred(platform: Platform, quantity: int = 30) -> dict[str, Any]:
    event = order_placed(quantity=quantity, kind=AccountKind.NON_CQC)
    await platform.publish(event)
    order = await eventually(lambda: in_state(platform, event.order_id, "referred"))
    assert order is not None
    return order


async def test_a_non_cqc_order_is_referred_with_its_reasons_and_queued_oldest_first(
    platform: Platform,
) -> None:
    first = await referred(platform, quantity=30)
    second = await referred(platform, quantity=3)
    assert any("not registered with CQC" in r for r in first["reasons"])
    assert any("address and phone" in r for r in first["reasons"])
    assert not any("address and phone" in r for r in second["reasons"])
    async with platform.client("verification") as verification:
        queue = (
            await verification.get(
                "/api/reviews", headers=bearer(mint("customer_service", account_id=REVIEWER))
            )
        ).json()
        refused = await verification.get(
            "/api/reviews", headers=bearer(mint("provider", kind="cqc"))
        )
    ids = [item["order_id"] for item in queue]
    assert ids.index(str(first["order_id"])) < ids.index(str(second["order_id"]))
    assert refused.status_code == 403


async def test_a_reviewer_rejects_with_a_reason_and_the_stock_is_released(
    platform: Platform,
) -> None:
    order = await referred(platform)
    order_id = order["order_id"]
    await eventually(lambda: ledger(platform, order_id, "reservation"))
    token = mint("customer_service", account_id=REVIEWER)

    no_reason = await decide(platform, order_id, token, decision="reject", version=order["version"])
    stale = await decide(
        platform, order_id, token, decision="reject", reason="x", version=order["version"] - 1
    )
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    assert stale.status_code == 409 and stale.json()["type"].endswith("/changed-since-viewed")

    reason = "We could not confirm this is an adult social care organisation."
    done = await decide(
        platform, order_id, token, decision="reject", reason=reason, version=order["version"]
    )
    assert done.status_code == 204
    again = await decide(
        platform, order_id, token, decision="approve", version=order["version"] + 1
    )
    assert again.status_code == 409 and again.json()["type"].endswith("/already-decided")

    assert await eventually(lambda: ledger(platform, order_id, "release"))
    async with platform.service("verification").db.transaction() as s:
        trail = (
            await s.execute(
                select(audit_trail.c.actor, audit_trail.c.action, audit_trail.c.after)
                .where(audit_trail.c.order_id == order_id)
                .order_by(audit_trail.c.id)
            )
        ).all()
    assert [(actor, action) for actor, action, _ in trail] == [
        ("automatic", "referred"),
        (str(REVIEWER), "rejected"),
    ]
    assert trail[-1].after["reasons"] == [reason]


async def test_two_reviewers_deciding_the_same_order_cannot_both_succeed(
    platform: Platform,
) -> None:
    order = await referred(platform)
    answers = await asyncio.gather(
        *(
            decide(
                platform,
                order["order_id"],
                mint("customer_service"),
                decision="approve",
                version=order["version"],
            )
            for _ in range(2)
        )
    )
    assert sorted(a.status_code for a in answers) == [204, 409]
    assert await eventually(lambda: ledger(platform, order["order_id"], "allocation"))


@pytest.mark.parametrize("announced_by", ["LocationsAuthorised", "AccountRegistered"])
async def test_an_order_that_arrives_before_its_locations_waits_then_is_verified(
    platform: Platform, announced_by: str
) -> None:
    """A later change of locations comes as LocationsAuthorised; a first sign-in's with
    the account's registration (ADR 0082): either lets a waiting order be checked."""
    event = order_placed(quantity=10, kind=AccountKind.CQC)
    location_id = f"1-T{uuid.uuid4().hex[:8]}"
    event = event.model_copy(
        update={"lines": [event.lines[0].model_copy(update={"location_id": location_id})]}
    )
    await platform.publish(event)
    assert await eventually(lambda: in_state(platform, event.order_id, "awaiting_authorisation"))

    # Its own organisation: a second order from one (by provider, or by a similar name at
    # the same postcode) is referred, and the two cases run on one platform.
    tag = uuid.uuid4().hex[:8]
    locations = [
        Location(
            location_id=location_id,
            ods_code="VTEST",
            name=f"{announced_by} Home {tag}",
            address_line_1="1 Road",
            postcode="LS1 4AP",
            provider_id=f"1-P{tag}",
            provider_name=f"{announced_by} Provider {tag}",
            care_home=True,
            care_home_beds=20,
        )
    ]
    if announced_by == "LocationsAuthorised":
        authorised = LocationsAuthorised(account_id=event.account_id, locations=locations)
        await platform.publish(authorised)
    else:
        await platform.publish(
            AccountRegistered(
                account_id=event.account_id,
                kind=AccountKind.CQC,
                email="home@example.org",
                locations=locations,
            )
        )
    verified = await eventually(lambda: in_state(platform, event.order_id, "verified"))
    assert verified is not None and verified["decided_by"] == "automatic"


async def test_an_order_and_its_locations_handled_at_the_same_moment_do_not_miss_each_other(
    platform: Platform,
) -> None:
    """The order's transaction has not committed when the locations' transaction looks for
    waiting orders: without the account lock the locations' handler finds none, the order's
    found no locations, and the order waits for ever.

    Staged without timing: the order's transaction stays open, having looked for locations,
    until the locations' transaction waits on a lock (or, with no lock to wait on, is done)."""
    verification = platform.service("verification")
    db = verification.db
    handlers = verification.consumers.handlers
    event = order_placed(quantity=10, kind=AccountKind.CQC)
    location_id = f"1-T{uuid.uuid4().hex[:8]}"
    event = event.model_copy(
        update={"lines": [event.lines[0].model_copy(update={"location_id": location_id})]}
    )
    locations = LocationsAuthorised(
        account_id=event.account_id,
        locations=[
            Location(
                location_id=location_id,
                ods_code="VRACE",
                name="Race Home",
                address_line_1="1 Road",
                postcode="LS1 4AP",
                provider_id="1-PRACE",
                provider_name="Race Provider",
            )
        ],
    )
    order_handled = asyncio.Event()

    async def learn_locations() -> None:
        await order_handled.wait()  # the order's handler has looked for locations: none yet
        async with db.transaction() as session:
            await handlers["verification.account.locations-authorised"](
                session, wrap(locations, "race")
            )

    learning = asyncio.create_task(learn_locations())

    async def locations_waiting_or_done() -> bool:
        return learning.done() or await blocked_on_a_lock(db)

    async with db.transaction() as session:
        await handlers["verification.order.placed"](session, wrap(event, "race"))
        order_handled.set()
        assert await eventually(locations_waiting_or_done)
        assert not learning.done(), "the locations' transaction did not wait for the order's"
    await learning
    assert await in_state(platform, event.order_id, "verified")


async def test_a_cancelled_referral_leaves_the_queue(platform: Platform) -> None:
    order = await referred(platform)
    await platform.publish(OrderCancelled(order_id=order["order_id"]))
    assert await eventually(lambda: in_state(platform, order["order_id"], "cancelled"))


async def test_anonymising_an_account_scrubs_what_identifies_it(platform: Platform) -> None:
    event = order_placed(quantity=4, kind=AccountKind.NON_CQC)
    await platform.publish(
        AccountRegistered(
            account_id=event.account_id,
            kind=AccountKind.NON_CQC,
            email="pa@example.org",
            organisation_name="Kind Care",
            postcode="LS2 7AA",
        )
    )
    await platform.publish(event)
    await eventually(lambda: in_state(platform, event.order_id, "referred"))
    await platform.publish(AccountAnonymised(account_id=event.account_id))

    async def scrubbed() -> bool:
        async with platform.service("verification").db.transaction() as s:
            account = (
                await s.execute(select(accounts).where(accounts.c.account_id == event.account_id))
            ).first()
        order = await state_of(platform, event.order_id)
        return bool(
            account
            and account.email is None
            and order
            and order["delivery"] == {"anonymised": True}
        )

    assert await eventually(scrubbed)


async def _handle(platform: Platform, queue: str, payload: Any) -> None:
    """Run verification's handler for ``queue`` in a transaction of its own."""
    service = platform.service("verification")
    async with service.db.transaction() as session:
        await service.consumers.handlers[queue](session, wrap(payload, "test"))


def _home(location_id: str, name: str) -> Location:
    return Location(
        location_id=location_id,
        ods_code="VLATE",
        name=name,
        address_line_1="1 Road",
        postcode="LS1 4AP",
        provider_id=f"1-P{location_id}",
        provider_name="Late Provider",
        care_home=True,
        care_home_beds=20,
    )


async def _kept(platform: Platform, account_id: uuid.UUID) -> tuple[Any, list[Any]]:
    async with platform.service("verification").db.transaction() as s:
        account = (
            await s.execute(select(accounts).where(accounts.c.account_id == account_id))
        ).first()
        held = (
            await s.execute(
                select(authorisations.c.details).where(authorisations.c.account_id == account_id)
            )
        ).all()
    return account, [row.details for row in held]


async def test_a_registration_after_anonymisation_brings_nothing_back(platform: Platform) -> None:
    """Events travel on different queues: AccountAnonymised may be consumed before the
    registration (with its locations) or a LocationsAuthorised. Nothing identifying is kept."""
    account_id = uuid.uuid4()
    await _handle(
        platform, "verification.account.anonymised", AccountAnonymised(account_id=account_id)
    )
    site = _home(f"1-A{uuid.uuid4().hex[:8]}", "Gone House")
    registered = AccountRegistered(
        account_id=account_id, kind=AccountKind.CQC, email="gone@example.org", locations=[site]
    )
    await _handle(platform, "verification.account.registered", registered)
    authorised = LocationsAuthorised(account_id=account_id, locations=[site])
    await _handle(platform, "verification.account.locations-authorised", authorised)
    account, held = await _kept(platform, account_id)
    assert account is not None and account.anonymised and account.email is None
    assert held == []


async def test_a_registration_keeps_the_account_and_its_locations_in_one_statement(
    platform: Platform,
) -> None:
    """Every first sign-in's registration carries its locations (ADR 0082): after the
    account's lock, the account and its locations are kept in one statement (two before)."""
    account_id, location_id = uuid.uuid4(), f"1-R{uuid.uuid4().hex[:8]}"
    registered = AccountRegistered(
        account_id=account_id,
        kind=AccountKind.CQC,
        email="rowan@example.org",
        organisation_name="Rowan Care",
        postcode="LS1 4AP",
        locations=[_home(location_id, "Rowan House")],
    )
    with recording() as sent, sent.labelled("registered"):
        await _handle(platform, "verification.account.registered", registered)
    ran = [" ".join(s.sql.split()) for s in sent.of("registered")]
    assert len(ran) == 2, ran
    assert "pg_advisory_xact_lock" in ran[0]
    account, held = await _kept(platform, account_id)
    assert account is not None
    assert (account.email, account.organisation_name, account.postcode, account.kind) == (
        "rowan@example.org",
        "Rowan Care",
        "LS1 4AP",
        "cqc",
    )
    assert [details["name"] for details in held] == ["Rowan House"]


async def test_a_registration_consumed_late_keeps_the_newer_location_details(
    platform: Platform,
) -> None:
    """A first sign-in's registration carries the account's first snapshot of its locations;
    a LocationsAuthorised consumed before it is newer, and its details stay."""
    account_id, location_id = uuid.uuid4(), f"1-N{uuid.uuid4().hex[:8]}"
    newer = LocationsAuthorised(
        account_id=account_id, locations=[_home(location_id, "Renamed House")]
    )
    await _handle(platform, "verification.account.locations-authorised", newer)
    registered = AccountRegistered(
        account_id=account_id,
        kind=AccountKind.CQC,
        email="late@example.org",
        locations=[_home(location_id, "Old House")],
    )
    await _handle(platform, "verification.account.registered", registered)
    account, held = await _kept(platform, account_id)
    assert account is not None and account.email == "late@example.org"
    assert [details["name"] for details in held] == ["Renamed House"]
