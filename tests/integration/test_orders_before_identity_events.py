"""An order placed straight after sign-in is taken: the signed token says which locations the
caller may order for, so orders does not wait for identity's events (ADR 0061). What the order
still needs from them (the delivery address, the address its confirmation goes to) is filled
in when they arrive, and only then does OrderPlaced go out."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select, update

from services.orders.store.tables import awaiting_details, email_outbox, orders
from shared.events import AccountKind, AccountRegistered, Location, LocationsAuthorised
from tests.support.journeys import sign_in, single_location_rows
from tests.support.keys import bearer, mint
from tests.support.platform import Platform, blocked_on_a_lock, eventually


def body(location: str, staff: int = 6) -> dict[str, Any]:
    return {
        "lines": [{"location_id": location, "staff_count": staff}],
        "deliver_to_location_id": location,
        "contact_name": "Alex Manager",
    }


def location(location_id: str) -> Location:
    return Location(
        location_id=location_id,
        ods_code="VNX01",
        name="Rowan Court",
        address_line_1="3 Mill Road",
        city="Leeds",
        postcode="LS2 7AB",
        provider_id="1-777",
        provider_name="Rowan Care Ltd",
        care_home=True,
        care_home_beds=30,
        region="Yorkshire and The Humber",
        local_authority="Leeds",
    )


async def order_row(platform: Platform, order_id: str) -> Any:
    async with platform.service("orders").db.transaction() as s:
        return (await s.execute(select(orders).where(orders.c.id == uuid.UUID(order_id)))).one()


async def announced(platform: Platform, order_id: str) -> list[str]:
    service = platform.service("orders")
    async with service.db.transaction() as s:
        rows = await s.execute(
            select(service.outbox_table.c.body).where(
                service.outbox_table.c.event_type == "OrderPlaced"
            )
        )
        return [b for b in rows.scalars() if order_id in b]


async def place_before_identity(platform: Platform, location_id: str) -> tuple[uuid.UUID, str, str]:
    """(account, token, order id) of an order placed before identity's events reached orders."""
    account_id = uuid.uuid4()
    token = mint("provider", account_id=account_id, kind="cqc", locations=[location_id])
    async with platform.client("orders") as client:
        response = await client.post("/api/orders", json=body(location_id), headers=bearer(token))
    assert response.status_code == 201, response.text
    return account_id, token, response.json()["order_id"]


async def announced_once(platform: Platform, order_id: str) -> dict[str, Any]:
    """The payload of the one OrderPlaced that went out for the order, once it has."""

    async def sent_on() -> list[str] | None:
        return await announced(platform, order_id) or None

    bodies = await eventually(sent_on)
    assert bodies is not None
    [event] = [json.loads(b)["payload"] for b in bodies]
    return event  # type: ignore[no-any-return]


async def emails_to(platform: Platform, address: str) -> list[str]:
    async with platform.service("orders").db.transaction() as s:
        rows = await s.execute(
            select(email_outbox.c.subject).where(email_outbox.c.recipient == address)
        )
        return list(rows.scalars())


async def test_an_order_before_identitys_events_is_taken_and_announced_when_they_arrive(
    platform: Platform,
) -> None:
    account_id = uuid.uuid4()
    location_id = "1-TOKENONLY1"
    token = mint("provider", account_id=account_id, kind="cqc", locations=[location_id])
    async with platform.client("orders") as client:
        response = await client.post("/api/orders", json=body(location_id), headers=bearer(token))
    assert response.status_code == 201, response.text
    order_id = response.json()["order_id"]
    placed = await order_row(platform, order_id)
    assert placed.delivery["awaiting"] is True
    assert await announced(platform, order_id) == []

    await platform.publish(
        AccountRegistered(
            account_id=account_id, kind=AccountKind.CQC, email="rowan.court@example.org"
        )
    )
    await platform.publish(
        LocationsAuthorised(account_id=account_id, locations=[location(location_id)])
    )

    async def sent_on() -> list[str] | None:
        return await announced(platform, order_id) or None

    bodies = await eventually(sent_on)
    assert bodies is not None
    [event] = [json.loads(b)["payload"] for b in bodies]
    assert event["delivery"]["postcode"] == "LS2 7AB"
    assert event["placement_seq"] == placed.seq
    row = await order_row(platform, order_id)
    assert row.delivery["postcode"] == "LS2 7AB"
    assert row.delivery["recipient_name"] == "Alex Manager"

    async def confirmed() -> list[str] | None:
        return await emails_to(platform, "rowan.court@example.org") or None

    subjects = await eventually(confirmed)
    assert subjects is not None
    [subject] = subjects
    assert response.json()["reference"] in subject
    assert (await order_row(platform, order_id)).notify_email == "rowan.court@example.org"
    async with platform.service("orders").db.transaction() as s:
        left = await s.execute(
            select(awaiting_details).where(awaiting_details.c.order_id == uuid.UUID(order_id))
        )
        assert left.first() is None


async def test_an_api_order_placed_straight_after_a_first_sign_in_is_taken_and_confirmed(
    platform: Platform,
) -> None:
    site = single_location_rows()[12]
    session = await sign_in(platform, site.email, site.ods_code)
    async with platform.client("orders") as client:
        response = await client.post(
            "/api/orders",
            json=body(site.location_id),
            headers=bearer(session["access_token"]),
        )
    assert response.status_code == 201, response.text
    order_id = response.json()["order_id"]

    async def confirmed() -> list[str] | None:
        return (
            await emails_to(platform, site.email.lower())
            or await emails_to(platform, site.email)
            or None
        )

    assert await eventually(confirmed)
    assert (await order_row(platform, order_id)).notify_email

    async def sent_on() -> list[str] | None:
        return await announced(platform, order_id) or None

    assert await eventually(sent_on)


async def test_a_correction_committed_while_the_address_arrives_is_not_overwritten(
    platform: Platform,
) -> None:
    location_id = "1-TOKENONLY2"
    account_id, _, order_id = await place_before_identity(platform, location_id)
    corrected = {
        "recipient_name": "Alex Manager",
        "organisation_name": "Side Entrance",
        "address_line_1": "2 Back Lane",
        "city": "Leeds",
        "postcode": "LS6 1AA",
    }
    # A correction from customer services, caught between its update and its commit (what the
    # DeliveryAddressChanged handler does), while the location's address arrives.
    async with platform.service("orders").db.transaction() as correcting:
        await correcting.execute(
            update(orders).where(orders.c.id == uuid.UUID(order_id)).values(delivery=corrected)
        )
        await platform.publish(
            LocationsAuthorised(account_id=account_id, locations=[location(location_id)])
        )
        assert await eventually(lambda: blocked_on_a_lock(platform.service("orders").db))

    event = await announced_once(platform, order_id)
    assert event["delivery"]["postcode"] == "LS6 1AA"
    assert (await order_row(platform, order_id)).delivery["address_line_1"] == "2 Back Lane"


async def test_the_recipient_of_an_order_still_awaiting_its_address_can_be_changed(
    platform: Platform,
) -> None:
    location_id = "1-TOKENONLY3"
    account_id, token, order_id = await place_before_identity(platform, location_id)
    async with platform.client("orders") as client:
        changed = await client.put(
            f"/api/orders/{order_id}/recipient",
            json={"contact_name": "Sam Deputy"},
            headers=bearer(token),
        )
    assert changed.status_code == 200, changed.text
    assert changed.json()["delivery"]["recipient_name"] == "Sam Deputy"

    await platform.publish(
        LocationsAuthorised(account_id=account_id, locations=[location(location_id)])
    )

    event = await announced_once(platform, order_id)
    assert event["delivery"]["recipient_name"] == "Sam Deputy"
    assert event["delivery"]["postcode"] == "LS2 7AB"
