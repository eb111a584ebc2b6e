"""Each automatic check and each referral reason, on the real broker and database.

Orders and authorised locations are published as orders and identity would publish them;
verification's own tables and outbox show what it decided and announced.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text

from services.verification.store.tables import orders as verification_orders
from shared.events import (
    AccountKind,
    OrderPlaced,
    wrap,
)
from tests.support.events import order_placed
from tests.support.platform import Platform, blocked_on_a_lock, eventually, settled
from tests.support.verification import authorise, cqc_order, location

pytestmark = pytest.mark.integration


async def decided(platform: Platform, order_id: uuid.UUID) -> dict[str, Any] | None:
    async with platform.service("verification").db.transaction() as s:
        row = (
            await s.execute(
                select(verification_orders).where(verification_orders.c.order_id == order_id)
            )
        ).first()
    if row is None or row.state not in ("verified", "referred"):
        return None
    return row._asdict()


async def outcome(platform: Platform, event: OrderPlaced) -> dict[str, Any]:
    await platform.publish(event)
    return await eventually(lambda: decided(platform, event.order_id))


async def test_a_plausible_cqc_order_is_verified_with_every_check_shown(platform: Platform) -> None:
    home = location(beds=20)
    account = await authorise(platform, home)
    order = await outcome(platform, cqc_order(account, (home, 50)))
    assert order["state"] == "verified" and order["decided_by"] == "automatic"
    assert {c["check"] for c in order["checks"]} == {
        "postcode",
        "locations_authorised",
        "bed_count",
        "earlier_order",
        "same_organisation",
    }
    assert all(c["passed"] for c in order["checks"]) and order["reason_codes"] == []


async def test_far_more_badges_than_beds_is_referred(platform: Platform) -> None:
    home = location(beds=10)
    account = await authorise(platform, home)
    order = await outcome(platform, cqc_order(account, (home, 26)))
    assert order["state"] == "referred" and order["reason_codes"] == ["bed_count"]
    assert "10 beds" in order["reasons"][0]


async def test_a_second_order_for_a_location_is_referred(platform: Platform) -> None:
    home = location()
    account = await authorise(platform, home)
    assert (await outcome(platform, cqc_order(account, (home, 5))))["state"] == "verified"
    again = await outcome(platform, cqc_order(account, (home, 5)))
    assert again["reason_codes"] == ["earlier_order"]
    assert home.location_id in again["reasons"][0]


async def test_the_same_provider_through_another_account_is_referred(platform: Platform) -> None:
    first, second = location(provider="1-PSAME1"), location(provider="1-PSAME1", postcode="M1 1AA")
    a, b = await authorise(platform, first), await authorise(platform, second)
    assert (await outcome(platform, cqc_order(a, (first, 5))))["state"] == "verified"
    order = await outcome(platform, cqc_order(b, (second, 5)))
    assert order["reason_codes"] == ["same_organisation"]
    assert "1-PSAME1" in order["reasons"][0]


async def test_a_similar_name_at_the_same_postcode_through_another_account_is_referred(
    platform: Platform,
) -> None:
    first = location(postcode="YO1 7HH", name="St Anne's Care Home Ltd")
    second = location(postcode="YO1 7HH", name="St Annes Care Home")
    a, b = await authorise(platform, first), await authorise(platform, second)
    assert (await outcome(platform, cqc_order(a, (first, 5))))["state"] == "verified"
    order = await outcome(platform, cqc_order(b, (second, 5)))
    assert order["reason_codes"] == ["same_organisation"]
    assert "similar name" in order["reasons"][0]


async def test_non_cqc_orders_always_go_to_a_person_large_ones_for_the_address_check(
    platform: Platform,
) -> None:
    small = await outcome(platform, order_placed(quantity=25, kind=AccountKind.NON_CQC))
    large = await outcome(platform, order_placed(quantity=26, kind=AccountKind.PERSONAL_ASSISTANT))
    assert small["state"] == large["state"] == "referred"
    assert small["reason_codes"] == ["not_cqc"]
    assert large["reason_codes"] == ["not_cqc", "address_and_phone"]


@pytest.mark.parametrize(
    ("postcode", "code"), [("TD15 1AB", "border_postcode"), ("CF10 1AA", "outside_england")]
)
async def test_border_and_outside_england_postcodes_are_referred(
    platform: Platform, postcode: str, code: str
) -> None:
    home = location()
    account = await authorise(platform, home)
    order = await outcome(platform, cqc_order(account, (home, 5), postcode=postcode))
    assert order["state"] == "referred" and order["reason_codes"] == [code]


async def test_two_accounts_of_one_provider_at_once_cannot_both_be_verified(
    platform: Platform,
) -> None:
    """Two verification instances check two orders of one provider at the same moment."""
    await platform.start("verification")
    try:
        sites = [location(provider="1-PRACE", postcode=f"LS{n} 1AA") for n in range(2, 8)]
        accounts = [await authorise(platform, site) for site in sites]
        events = [cqc_order(a, (site, 5)) for a, site in zip(accounts, sites, strict=True)]
        results = await asyncio.gather(*(outcome(platform, e) for e in events))
        assert sorted(r["state"] for r in results) == ["referred"] * 5 + ["verified"]
    finally:
        await platform.service("verification", 1).stop()
        platform.apps["verification"].pop()


async def test_a_provider_checked_while_its_other_account_is_being_checked_waits_and_is_referred(
    platform: Platform,
) -> None:
    """The first order's transaction has checked and written its order but not committed when
    the second account's order of the same provider is checked: without the locks that
    serialise checks of one organisation, the second sees no other account and is verified too.

    Staged without timing: the first transaction stays open until the second waits on a lock
    (or, with no lock to wait on, is done)."""
    verification = platform.service("verification")
    db = verification.db
    handle = verification.consumers.handlers["verification.order.placed"]
    sites = [location(provider="1-PSTAGED", postcode=f"HX{n} 1AA") for n in (1, 2)]
    accounts = [await authorise(platform, site) for site in sites]
    for account in accounts:
        await eventually(lambda a=account: _knows_locations_of(platform, a))
    first, second = (cqc_order(a, (site, 5)) for a, site in zip(accounts, sites, strict=True))
    first_checked = asyncio.Event()

    async def check_second() -> None:
        await first_checked.wait()
        async with db.transaction() as session:
            await handle(session, wrap(second, "staged"))

    checking = asyncio.create_task(check_second())

    async def second_waiting_or_done() -> bool:
        return checking.done() or await blocked_on_a_lock(db)

    async with db.transaction() as session:
        await handle(session, wrap(first, "staged"))
        first_checked.set()
        assert await eventually(second_waiting_or_done)
        assert not checking.done(), "the second check did not wait for the first"
    await checking
    assert (await decided(platform, first.order_id) or {}).get("state") == "verified"
    referred = await decided(platform, second.order_id)
    assert referred is not None and referred["state"] == "referred"
    assert referred["reason_codes"] == ["same_organisation"]


async def _knows_locations_of(platform: Platform, account_id: uuid.UUID) -> bool:
    async with platform.service("verification").db.transaction() as s:
        return bool(
            await s.scalar(
                text("SELECT count(*) FROM authorisations WHERE account_id = :a"),
                {"a": account_id},
            )
        )


async def test_automation_never_emits_a_rejection(platform: Platform) -> None:
    """Everything above has run through the automatic checks: nothing was rejected."""
    await settled(platform)
    async with platform.service("verification").db.transaction() as s:
        kinds = dict(
            (
                await s.execute(text("SELECT event_type, count(*) FROM outbox GROUP BY event_type"))
            ).all()
        )
    assert kinds.get("OrderVerified") and kinds.get("OrderReferred")
    assert "OrderRejected" not in kinds
