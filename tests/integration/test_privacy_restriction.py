"""Restriction and objection (privacy policy, rights 3 and 4), end to end on real RabbitMQ and
PostgreSQL: the data is kept but not used (no new order, nothing handed to the courier) until
the restriction is lifted, and the holder sees that."""

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from shared.events import AccountRestricted, AccountRestrictionLifted
from tests.support.events import order_placed, verified
from tests.support.journeys import place_order, sign_in, single_location_rows
from tests.support.keys import bearer, mint
from tests.support.platform import Platform, eventually, settled

pytestmark = pytest.mark.integration


async def _try_to_order(platform: Platform, token: str, site: Any) -> tuple[int, dict[str, Any]]:
    body = {
        "lines": [{"location_id": site.location_id, "staff_count": 2}],
        "deliver_to_location_id": site.location_id,
        "contact_name": "Robin Ashdown",
    }
    async with platform.client("orders") as orders:
        answer = await orders.post("/api/orders", json=body, headers=bearer(token))
    return answer.status_code, answer.json()


async def test_a_restricted_holder_sees_it_and_cannot_order_until_it_is_lifted(
    platform: Platform,
) -> None:
    site = single_location_rows()[4]
    session = await sign_in(platform, site.email, site.ods_code)
    token = session["access_token"]
    async with platform.client("identity") as identity:
        restricted = await identity.post(
            "/api/account/restriction", json={"ground": "objection"}, headers=bearer(token)
        )
        assert restricted.status_code == 204, restricted.text
        account = (await identity.get("/api/account", headers=bearer(token))).json()
    assert "objected to the use of your data" in account["restriction"]
    assert "cannot place an order" in account["restriction"]

    await eventually(lambda: _orders_holds(platform, session["account_id"]))
    status, problem = await _try_to_order(platform, token, site)
    assert status == 403, problem
    assert problem["type"].endswith("account-restricted")
    assert "Lift the restriction" in problem["detail"]

    # Customer services can lift it on the holder's behalf; then the order goes through.
    async with platform.client("identity") as identity:
        lifted = await identity.delete(
            f"/api/accounts/{session['account_id']}/restriction",
            headers=bearer(mint("customer_service")),
        )
        assert lifted.status_code == 204
        account = (await identity.get("/api/account", headers=bearer(token))).json()
    assert account["restriction"] is None

    async def released() -> bool:
        return not await _orders_holds(platform, session["account_id"])

    await eventually(released)
    placed = await place_order(platform, token, [(site.location_id, 2)], site.location_id)
    assert placed["status"] == "placed"


async def _orders_holds(platform: Platform, account_id: str) -> bool:
    """Whether orders has heard of the restriction (it is told by an event)."""
    async with platform.service("orders").db.transaction() as s:
        found = await s.execute(
            text("SELECT 1 FROM account_holds WHERE account_id = :id"), {"id": account_id}
        )
        return found.first() is not None


async def _dispatch_order(platform: Platform, order_id: object) -> Any:
    async with platform.service("dispatch").db.transaction() as s:
        return (
            await s.execute(
                text(
                    "SELECT o.state, o.verified, s.reference FROM dispatch_orders o "
                    "LEFT JOIN shipments s ON s.order_id = o.order_id WHERE o.order_id = :id"
                ),
                {"id": order_id},
            )
        ).first()


async def test_a_restricted_accounts_verified_order_keeps_its_stock_but_is_not_handed_over(
    platform: Platform,
) -> None:
    order = order_placed(quantity=3)
    await platform.publish(AccountRestricted(account_id=order.account_id, ground="restriction"))
    await settled(platform)
    await platform.publish(order)
    await platform.publish(verified(order))

    async def held() -> Any:
        row = await _dispatch_order(platform, order.order_id)
        return row if row is not None and row.verified and row.state == "reserved" else None

    row = await eventually(held)
    await settled(platform)
    row = await _dispatch_order(platform, order.order_id)
    assert row.state == "reserved" and row.reference is None  # no shipment, no courier

    await platform.publish(AccountRestrictionLifted(account_id=order.account_id))

    async def handed_over() -> Any:
        row = await _dispatch_order(platform, order.order_id)
        return row if row.state == "allocated" and row.reference else None

    await eventually(handed_over)


async def test_once_a_restriction_is_acknowledged_an_order_straight_after_is_refused(
    platform: Platform,
) -> None:
    """204 means orders already holds the account: no waiting, no window (ADR 0061)."""
    site = single_location_rows()[14]
    session = await sign_in(platform, site.email, site.ods_code)
    token = session["access_token"]
    async with platform.client("identity") as identity:
        restricted = await identity.post(
            "/api/account/restriction", json={"ground": "restriction"}, headers=bearer(token)
        )
    assert restricted.status_code == 204, restricted.text
    status, problem = await _try_to_order(platform, token, site)
    assert status == 403, problem
    assert problem["type"].endswith("account-restricted")
    async with platform.service("orders").db.transaction() as s:
        placed = await s.execute(
            text("SELECT count(*) FROM orders WHERE account_id = :id"),
            {"id": session["account_id"]},
        )
        assert placed.scalar() == 0


async def test_a_restriction_waits_for_an_order_being_placed_and_then_holds(
    platform: Platform,
) -> None:
    """An order that read the account before the restriction arrived finishes first; the hold
    (and so the acknowledgement) comes only after it, so no order is accepted after the 204."""
    from services.orders.store import awaiting

    account_id = uuid.uuid4()
    orders = platform.service("orders")
    async with orders.db.transaction() as placing:
        await awaiting.lock_for_placing(placing, account_id)
        await platform.publish(
            AccountRestricted(
                account_id=account_id, ground="restriction", restriction_id=uuid.uuid4()
            )
        )
        assert await eventually(lambda: _waiting_for_advisory_lock(platform))
        assert not await _orders_holds(platform, str(account_id))
    assert await eventually(lambda: _orders_holds(platform, str(account_id)))


async def _waiting_for_advisory_lock(platform: Platform) -> bool:
    async with platform.service("orders").db.transaction() as s:
        found = await s.execute(
            text("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        )
        return found.first() is not None
