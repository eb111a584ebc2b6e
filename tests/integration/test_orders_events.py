"""Orders keeps its copy of an order in step with what other services decide."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from services.identity.store import subject_access
from services.orders.domain.order import Status
from services.orders.store import repository
from services.orders.store.tables import authorised_locations, orders
from shared.events import (
    AccountAnonymised,
    Delivery,
    DeliveryAddressChanged,
    SubjectAccessRequested,
)
from tests.support.journeys import place_order, sign_in, single_location_rows
from tests.support.platform import Platform, blocked_on_a_lock, eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def placed(platform: Platform) -> dict[str, Any]:
    site = single_location_rows()[20]
    session = await sign_in(platform, site.email, site.ods_code)
    order = await place_order(
        platform,
        session["access_token"],
        [(site.location_id, 6)],
        site.location_id,
        contact="Robin Example",
    )
    return {
        "order_id": uuid.UUID(order["order_id"]),
        "account_id": uuid.UUID(session["account_id"]),
        "reference": order["reference"],
    }


async def delivery(platform: Platform, order_id: uuid.UUID) -> dict[str, Any]:
    async with platform.service("orders").db.transaction() as s:
        return (
            await s.execute(select(orders.c.delivery).where(orders.c.id == order_id))
        ).scalar_one()  # type: ignore[no-any-return]


async def test_a_corrected_delivery_address_reaches_the_order(
    platform: Platform, placed: dict[str, Any]
) -> None:
    corrected = Delivery(
        recipient_name="Robin Example",
        organisation_name="Side Entrance",
        address_line_1="2 Back Lane",
        city="Leeds",
        postcode="LS6 1AA",
    )
    await platform.publish(
        DeliveryAddressChanged(
            order_id=placed["order_id"], changed_by=uuid.uuid4(), delivery=corrected
        )
    )

    async def changed() -> bool:
        found = await delivery(platform, placed["order_id"])
        return found.get("address_line_1") == "2 Back Lane"

    assert await eventually(changed)


async def test_a_subject_access_request_gets_orders_contribution(
    platform: Platform, placed: dict[str, Any]
) -> None:
    request_id = uuid.uuid4()
    # Identity records the request before it asks (its API does both); it keeps the parts
    # only of requests it has.
    async with platform.service("identity").db.transaction() as s:
        await subject_access.add_request(s, request_id, placed["account_id"], placed["account_id"])
    await platform.publish(
        SubjectAccessRequested(request_id=request_id, account_id=placed["account_id"])
    )

    async def contribution() -> dict[str, Any] | None:
        async with platform.service("identity").db.transaction() as s:
            row = (
                await s.execute(
                    text(
                        "SELECT data FROM subject_access_contributions"
                        " WHERE request_id = :r AND service = 'orders'"
                    ),
                    {"r": request_id},
                )
            ).first()
        return row.data if row else None

    data = await eventually(contribution)
    assert [o["reference"] for o in data["orders"]] == [placed["reference"]]


async def test_anonymising_the_account_scrubs_the_order_and_its_locations(
    platform: Platform, placed: dict[str, Any]
) -> None:
    await platform.publish(AccountAnonymised(account_id=placed["account_id"]))

    async def scrubbed() -> bool:
        async with platform.service("orders").db.transaction() as s:
            left = await s.scalar(
                select(authorised_locations.c.location_id).where(
                    authorised_locations.c.account_id == placed["account_id"]
                )
            )
        return left is None and (await delivery(platform, placed["order_id"])).get("anonymised")

    assert await eventually(scrubbed)
    assert "Robin Example" not in str(await delivery(platform, placed["order_id"]))


async def test_an_order_and_its_timeline_are_read_as_of_one_moment(
    platform: Platform, placed: dict[str, Any]
) -> None:
    """A step committed while the order is being read must not show in one of its status and
    its timeline and not the other (a page showed "Dispatched" in the timeline beside the
    status "Checked and approved"). The read is held on a lock of the lines' table, after the
    order's row and before its timeline when they were read one after another."""
    db = platform.service("orders").db
    order_id = placed["order_id"]
    before = await repository.read_order(db, order_id)
    assert before is not None
    async with db.transaction() as blocker:
        # Holds the reader between its first statement (the order) and its second (the lines).
        await blocker.execute(text("LOCK TABLE order_lines IN ACCESS EXCLUSIVE MODE"))
        reading = asyncio.create_task(repository.read_order(db, order_id))
        assert await eventually(lambda: blocked_on_a_lock(db))
        async with db.transaction() as step:
            await repository.record_status(
                step, order_id, Status.DELIVERED, datetime.now(UTC), "a step mid-read"
            )
    seen = await reading
    assert seen is not None
    steps = [h["status"] for h in seen["history"]]
    assert (seen["status"] == "delivered") == ("delivered" in steps), (seen["status"], steps)
    assert seen["status"] in (before["status"], "delivered")
    after = await repository.read_order(db, order_id)
    assert after is not None and after["status"] == "delivered"


async def test_a_step_waiting_on_a_later_one_joins_the_timeline_but_never_moves_the_status_back(
    platform: Platform,
) -> None:
    """Status steps decide on the order's latest version: a 'verified' that waited for the
    row while 'dispatched' committed is recorded, and the order stays dispatched."""
    site = single_location_rows()[21]
    session = await sign_in(platform, site.email, site.ods_code)
    placed = await place_order(
        platform, session["access_token"], [(site.location_id, 4)], site.location_id
    )
    order_id = uuid.UUID(placed["order_id"])
    db = platform.service("orders").db
    async with db.transaction() as first:
        await repository.record_status(first, order_id, Status.DISPATCHED, datetime.now(UTC))

        async def late_verified() -> Any:
            async with db.transaction() as second:
                return await repository.record_status(
                    second, order_id, Status.VERIFIED, datetime.now(UTC)
                )

        waiting = asyncio.create_task(late_verified())
        assert await eventually(lambda: blocked_on_a_lock(db))
    answered = await waiting
    assert answered is not None and answered.reference == placed["reference"]
    seen = await repository.read_order(db, order_id)
    assert seen is not None and seen["status"] == "dispatched"
    assert {"dispatched", "verified"} <= {h["status"] for h in seen["history"]}
