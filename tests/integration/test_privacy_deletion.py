"""Deletion (privacy policy, right 5, and "customer services can disable and anonymise users"),
end to end on real RabbitMQ and PostgreSQL, checked by scanning every database."""

from typing import Any

import pytest
from sqlalchemy import text

from tests.support.journeys import order_status, place_order, sign_in, single_location_rows
from tests.support.keys import bearer, mint
from tests.support.platform import Platform, eventually
from tests.support.privacy import courier_reports, everywhere

pytestmark = pytest.mark.integration

CONTACT = "Avery Quillfeather"
#: CQC's register is organisation data the service is given, not something the user gave:
#: its copy goes when the portal closes (test_privacy_closure.py).
REGISTER = frozenset({"register_locations"})


async def _dispatched(platform: Platform, token: str, order_id: str) -> dict[str, Any] | None:
    order = await order_status(platform, token, order_id)
    return order if order["status"] == "dispatched" else None


async def test_anonymising_removes_the_person_everywhere_and_the_courier_copy_after_delivery(
    platform: Platform,
) -> None:
    site = single_location_rows()[3]
    session = await sign_in(platform, site.email, site.ods_code)
    token, account_id = session["access_token"], session["account_id"]
    placed = await place_order(
        platform, token, [(site.location_id, 4)], site.location_id, contact=CONTACT
    )
    order = await eventually(lambda: _dispatched(platform, token, placed["order_id"]))
    shipment = order["history"][-1]["detail"]
    async with platform.client("identity") as identity:
        # A reset link and its email wait for this address too.
        reset = await identity.post("/api/password-reset", json={"email": site.email})
        assert reset.status_code == 202
        asked = await identity.post(
            "/api/account/subject-access", headers=bearer(session["access_token"])
        )
        assert asked.status_code == 202
    needles = [site.email, CONTACT]
    before = await everywhere(platform, needles, skip=REGISTER)
    assert {"identity", "orders", "verification", "dispatch"} <= set(before)

    staff = mint("customer_service")
    async with platform.client("identity") as identity:
        gone = await identity.post(
            f"/api/accounts/{account_id}/anonymise",
            json={"reason": "asked by phone"},
            headers=bearer(staff),
        )
        assert gone.status_code == 204, gone.text
        refused = await identity.post(
            "/api/token", json={"refresh_token": session["refresh_token"]}
        )
        assert refused.status_code == 401

    seen: dict[str, Any] = {}

    async def only_the_courier_copy_left() -> dict[str, Any] | None:
        seen.update(left=await everywhere(platform, needles, skip=REGISTER))
        return seen["left"] if set(seen["left"]) == {"dispatch"} else None

    # The parcel is with the courier: dispatch keeps who and where until it is delivered.
    try:
        left = await eventually(only_the_courier_copy_left)
    except AssertionError as failed:
        raise AssertionError(f"still held: {seen['left']}") from failed
    assert set(left["dispatch"]) <= {"dispatch_orders", "outbox"}
    # ... and the record of the handoff it published; nothing else names the person.
    assert [e["event_type"] for e in left["dispatch"].get("outbox", [])] in ([], ["CourierHandoff"])
    assert left["dispatch"]["dispatch_orders"][0]["delivery"]["recipient_name"] == CONTACT

    await courier_reports(platform, shipment, "delivered")

    async def nothing_left() -> bool:
        return not await everywhere(platform, needles, skip=REGISTER)

    await eventually(nothing_left)
    # What stays is anonymous: the order's number and status, for the figures and the stock.
    async with platform.service("orders").db.transaction() as s:
        row = (
            await s.execute(
                text("SELECT status, quantity, delivery FROM orders WHERE id = :id"),
                {"id": placed["order_id"]},
            )
        ).one()
    assert row.quantity == 4 and row.delivery == {
        "recipient_name": "[anonymised]",
        "anonymised": True,
    }
