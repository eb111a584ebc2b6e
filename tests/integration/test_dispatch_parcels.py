"""Parcels and the courier: allocated once whatever the arrival order, split by parcel size,
handed to the courier with only what delivery needs, followed through its status callbacks.

Dispatch runs alone with a parcel size of 10, so splitting shows with small orders.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from services.dispatch.domain.delivery import COURIER_FIELDS
from shared.events import Delivery, DeliveryAddressChanged, OrderDispatched
from shared.events.envelope import COURIER_EXCHANGE
from shared.metrics import INBOX_DUPLICATES
from shared.runtime import Service
from tests.support.dispatch import DELIVERY, Dispatch, dispatch_platform, placed, verified
from tests.support.keys import bearer, mint, staff
from tests.support.platform import Platform, courier_headers, eventually

pytestmark = pytest.mark.integration

PARCEL_SIZE = 10
COURIER_QUEUE = "courier.courier.handoff"


@pytest.fixture(scope="module")
async def platform() -> AsyncIterator[Platform]:
    async with dispatch_platform(parcel_size=PARCEL_SIZE) as p:
        yield p


@pytest.fixture
async def dispatch(platform: Platform) -> Dispatch:
    probe = await Dispatch.empty(platform, stock=10_000)
    await platform.drain(COURIER_QUEUE, timeout=0.2)
    return probe


async def handoffs(platform: Platform, timeout: float = 1.0) -> list[dict[str, Any]]:
    """Envelopes the courier integration has received so far (taken from its queue)."""
    return [json.loads(m.body) for m in await platform.drain(COURIER_QUEUE, timeout=timeout)]


async def count(dispatch: Dispatch, sql: str, **params: Any) -> int:
    async with dispatch.db.transaction() as s:
        return int(await s.scalar(text(sql), params) or 0)


# --- allocation: reserved and verified, in either order --------------------------------------


@pytest.mark.parametrize("first", ["placed", "verified"])
async def test_reserved_and_verified_in_either_order_is_allocated_and_handed_over_once(
    platform: Platform, dispatch: Dispatch, first: str
) -> None:
    order = placed(7)
    events = [order, verified(order)]
    await dispatch.send(*(events if first == "placed" else events[::-1]))
    shipment = await dispatch.until_shipped(order.order_id)
    await dispatch.send(verified(order))  # a second verdict (a reviewer's, say) changes nothing
    await dispatch.handled()

    assert await dispatch.state(order.order_id) == "allocated"
    shipments = "SELECT count(*) FROM shipments WHERE order_id = :o"
    assert await count(dispatch, shipments, o=order.order_id) == 1
    allocations = await count(
        dispatch,
        "SELECT count(*) FROM stock_ledger"
        " WHERE order_id = :o AND kind = 'allocation' AND item = 'badge'",
        o=order.order_id,
    )
    assert allocations == 1
    assert len(await dispatch.events("OrderDispatched", order.order_id)) == 1
    received = await eventually(lambda: handoffs(platform))
    assert [h["payload"]["shipment_reference"] for h in received] == [shipment.reference]
    assert (await dispatch.picture()).ledger_consistent


# --- parcels ---------------------------------------------------------------------------------


async def test_an_order_above_the_parcel_size_goes_as_several_parcels_each_with_its_leaflets(
    platform: Platform, dispatch: Dispatch
) -> None:
    order = placed(25)
    await dispatch.send(order, verified(order))
    shipment = await dispatch.until_shipped(order.order_id)

    (envelope,) = await eventually(lambda: handoffs(platform))
    parcels = envelope["payload"]["parcels"]
    assert [p["badges"] for p in parcels] == [10, 10, 5]
    assert [p["number"] for p in parcels] == [1, 2, 3]
    assert all(p["wellbeing_leaflets"] == 1 and p["winter_leaflets"] == 1 for p in parcels)
    assert shipment.parcels == parcels
    (dispatched,) = await dispatch.events("OrderDispatched", order.order_id)
    assert dispatched["parcel_count"] == 3 and dispatched["quantity"] == 25
    async with dispatch.db.transaction() as s:
        taken = dict(
            (
                await s.execute(
                    text(
                        "SELECT item, quantity FROM stock_ledger WHERE kind = 'allocation'"
                        " AND (order_id = :o OR note = :shipment)"
                    ),
                    {"o": order.order_id, "shipment": f"shipment {shipment.reference}"},
                )
            ).all()
        )
    assert taken == {"badge": 25, "wellbeing_leaflet": 3, "winter_leaflet": 3}


async def test_the_courier_gets_only_what_delivery_needs_on_its_own_exchange(
    platform: Platform, dispatch: Dispatch
) -> None:
    order = placed(3)
    await dispatch.send(order, verified(order))
    shipment = await dispatch.until_shipped(order.order_id)

    (envelope,) = await eventually(lambda: handoffs(platform))
    assert envelope["type"] == "CourierHandoff"
    assert set(envelope["payload"]) == COURIER_FIELDS
    assert envelope["payload"] == {
        "shipment_reference": shipment.reference,
        "recipient_name": "Test Recipient",
        "address": ["Test Care Ltd", "1 Test Street", "Leeds"],
        "postcode": "LS1 4AP",
        "parcels": [{"number": 1, "badges": 3, "wellbeing_leaflets": 1, "winter_leaflets": 1}],
    }
    async with dispatch.db.transaction() as s:
        exchange = await s.scalar(
            text("SELECT exchange FROM outbox WHERE event_type = 'CourierHandoff'")
        )
    assert exchange == COURIER_EXCHANGE
    # Nothing identifies the order to the courier beyond the shipment it carries.
    assert str(order.order_id) not in json.dumps(envelope)


async def test_order_dispatched_carries_no_personal_data(
    platform: Platform, dispatch: Dispatch
) -> None:
    order = placed(4)
    await dispatch.send(order, verified(order))
    await dispatch.until_shipped(order.order_id)
    async with dispatch.db.transaction() as s:
        body = await s.scalar(text("SELECT body FROM outbox WHERE event_type = 'OrderDispatched'"))
    payload = json.loads(body)["payload"]
    assert (
        set(payload)
        == set(OrderDispatched.model_fields)
        == {
            "order_id",
            "shipment_reference",
            "parcel_count",
            "quantity",
            "reserved_with_dispatch",
        }
    )
    assert OrderDispatched.PERSONAL_FIELDS == frozenset()
    personal = [v for v in DELIVERY.model_dump().values() if v] + [str(order.account_id)]
    assert not [value for value in personal if str(value) in body]


# --- a changed delivery address ---------------------------------------------------------------


NEW_ADDRESS = Delivery(
    recipient_name="New Recipient",
    organisation_name="Moved Care Ltd",
    address_line_1="2 Other Road",
    city="York",
    postcode="YO1 7HH",
)


def address_changed(order_id: uuid.UUID) -> DeliveryAddressChanged:
    return DeliveryAddressChanged(order_id=order_id, changed_by=uuid.uuid4(), delivery=NEW_ADDRESS)


@pytest.mark.parametrize("when", ["before placement arrives", "while waiting for verification"])
async def test_an_address_changed_before_hand_over_is_the_one_the_courier_gets(
    platform: Platform, dispatch: Dispatch, when: str
) -> None:
    order = placed(2)
    if when == "before placement arrives":
        await dispatch.send(address_changed(order.order_id))
        await dispatch.handled()
        await dispatch.send(order)
    else:
        await dispatch.send(order)
        await dispatch.until_state(order.order_id, "reserved")
        await dispatch.send(address_changed(order.order_id))
    await dispatch.handled()
    await dispatch.send(verified(order))

    (envelope,) = await eventually(lambda: handoffs(platform))
    assert envelope["payload"]["recipient_name"] == "New Recipient"
    assert envelope["payload"]["postcode"] == "YO1 7HH"
    assert await dispatch.events("DeliveryAddressChangeRefused") == []


async def test_an_address_changed_after_hand_over_is_refused_with_the_reason(
    platform: Platform, dispatch: Dispatch
) -> None:
    order = placed(2)
    await dispatch.send(order, verified(order))
    shipment = await dispatch.until_shipped(order.order_id)
    change = address_changed(order.order_id)
    await dispatch.send(change)
    await dispatch.handled()

    (refusal,) = await dispatch.events("DeliveryAddressChangeRefused", order.order_id)
    assert refusal["changed_by"] == str(change.changed_by)
    assert refusal["shipment_reference"] == shipment.reference
    assert "already handed to the courier" in refusal["reason"]
    assert "YO1" not in json.dumps(refusal)  # the refusal does not repeat the address
    (envelope,) = await eventually(lambda: handoffs(platform))
    assert envelope["payload"]["postcode"] == "LS1 4AP"  # one handoff, the original address
    assert await handoffs(platform, timeout=0.5) == []


# --- the courier's status callback ------------------------------------------------------------


async def report(platform: Platform, reference: str, status: str, at: str) -> Any:
    body = json.dumps(
        {"shipment_reference": reference, "status": status, "occurred_at": at}
    ).encode()
    async with platform.client("dispatch") as client:
        return await client.post("/api/courier/status", content=body, headers=courier_headers(body))


async def test_delivered_after_a_failed_attempt_announces_delivery_once(
    platform: Platform, dispatch: Dispatch
) -> None:
    order = placed(5)
    await dispatch.send(order, verified(order))
    shipment = await dispatch.until_shipped(order.order_id)
    missed = await report(platform, shipment.reference, "failed_attempt", "2026-11-24T10:00:00Z")
    assert missed.json()["status"] == "failed_attempt"
    assert await dispatch.events("OrderDelivered") == []
    done = await report(platform, shipment.reference, "delivered", "2026-11-25T10:00:00Z")
    late = await report(platform, shipment.reference, "failed_attempt", "2026-11-24T11:00:00Z")
    assert done.json()["status"] == late.json()["status"] == "delivered"
    assert await dispatch.events("OrderDelivered") == [
        {
            "order_id": str(order.order_id),
            "shipment_reference": shipment.reference,
            "delivered_at": "2026-11-25T10:00:00Z",
        }
    ]


async def test_a_returned_parcel_is_put_in_front_of_customer_services(
    platform: Platform, dispatch: Dispatch
) -> None:
    order = placed(12)
    await dispatch.send(order, verified(order))
    shipment = await dispatch.until_shipped(order.order_id)
    returned = await report(platform, shipment.reference, "returned", "2026-11-26T09:30:00Z")
    assert returned.status_code == 200 and returned.json()["status"] == "returned"

    assert await dispatch.events("ParcelReturned") == [
        {
            "order_id": str(order.order_id),
            "shipment_reference": shipment.reference,
            "returned_at": "2026-11-26T09:30:00Z",
            "parcel_count": 2,
            "quantity": 12,
        }
    ]
    assert await dispatch.events("OrderDelivered") == []
    async with platform.client("dispatch") as client:
        work_list = (
            await client.get("/api/shipments?status=returned", headers=staff("customer_service"))
        ).json()
        detail = (
            await client.get(
                f"/api/shipments/{shipment.reference}", headers=staff("customer_service")
            )
        ).json()
        provider = await client.get(
            "/api/shipments?status=returned", headers=bearer(mint("provider"))
        )
    assert [(s["shipment_reference"], s["order_id"]) for s in work_list] == [
        (shipment.reference, str(order.order_id))
    ]
    assert [r["status"] for r in detail["courier_reports"]] == ["returned"]
    assert provider.status_code == 403


async def test_refused_callbacks_are_logged_and_unknown_shipments_kept_for_investigation(
    platform: Platform, dispatch: Dispatch, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(
        {"shipment_reference": "SH-UNKNOWN1", "status": "delivered", "occurred_at": "2026-11-26"}
    ).encode()
    with caplog.at_level(logging.WARNING):
        async with platform.client("dispatch") as client:
            unsigned = await client.post(
                "/api/courier/status",
                content=body,
                headers={"Content-Type": "application/json"},
            )
            headers = courier_headers(body)
            unknown = await client.post("/api/courier/status", content=body, headers=headers)
            replayed = await client.post("/api/courier/status", content=body, headers=headers)
            kept = (
                await client.get(
                    "/api/courier/unmatched-reports", headers=staff("customer_service")
                )
            ).json()
    assert (unsigned.status_code, unknown.status_code, replayed.status_code) == (401, 404, 409)
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["type"].endswith("/shipment-not-found")
    assert "kept for investigation" in unknown.json()["detail"]
    assert [(r["shipment_reference"], r["status"]) for r in kept] == [("SH-UNKNOWN1", "delivered")]
    logged = " ".join(str(r.msg) for r in caplog.records)
    for line in ("courier callback refused", "unknown shipment", "courier callback replayed"):
        assert line in logged


# --- crashes between allocation and hand-over -------------------------------------------------


async def test_a_crash_after_allocation_commits_and_before_the_handoff_is_published() -> None:
    """The outbox: allocation, shipment and handoff commit together; a new process sends it."""
    async with dispatch_platform(parcel_size=PARCEL_SIZE) as alone:
        doomed = alone.service("dispatch")
        await doomed.relay.stop()  # this process will never publish anything
        dispatch = Dispatch(alone)
        await alone.receive_stock(100)
        order = placed(23)
        await dispatch.send(order, verified(order))
        shipment = await dispatch.until_shipped(order.order_id)
        await dispatch.handled()
        unsent = await count(
            dispatch,
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            " AND event_type IN ('CourierHandoff', 'OrderDispatched')",
        )
        assert unsent == 2
        assert await handoffs(alone, timeout=0.5) == []

        await doomed.stop()  # the crash: gone before its relay sent the handoff
        await alone.start("dispatch")  # the replacement's relay finds the rows
        received = await eventually(lambda: handoffs(alone))
        received += await handoffs(alone, timeout=1.0)
        assert [h["payload"]["shipment_reference"] for h in received] == [shipment.reference]
        assert [p["badges"] for p in received[0]["payload"]["parcels"]] == [10, 10, 3]
        assert await count(dispatch, "SELECT count(*) FROM shipments") == 1


async def test_a_crash_after_publishing_before_marking_sent_resends_the_same_shipment() -> None:
    """At least once: the courier may get a handoff twice, never a second shipment."""
    async with dispatch_platform(parcel_size=PARCEL_SIZE) as alone:
        service: Service = alone.service("dispatch")
        publish = service.relay._publish
        crashed: list[str] = []

        async def publish_then_die(row: Any) -> None:
            await publish(row)
            if row.event_type == "CourierHandoff" and not crashed:
                crashed.append(row.body)
                raise ConnectionResetError("relay died before recording the publish")

        service.relay._publish = publish_then_die
        dispatch = Dispatch(alone)
        await alone.receive_stock(100)
        order = placed(8)
        await dispatch.send(order, verified(order))
        shipment = await dispatch.until_shipped(order.order_id)

        async def both_copies() -> list[dict[str, Any]] | None:
            both_copies.taken += await handoffs(alone, timeout=0.3)  # type: ignore[attr-defined]
            return both_copies.taken if len(both_copies.taken) >= 2 else None  # type: ignore[attr-defined]

        both_copies.taken = []  # type: ignore[attr-defined]
        copies = await eventually(both_copies)
        assert crashed
        assert len({c["event_id"] for c in copies}) == 1  # the same message, sent again
        assert {c["payload"]["shipment_reference"] for c in copies} == {shipment.reference}
        assert await count(dispatch, "SELECT count(*) FROM shipments") == 1
        assert (
            await count(
                dispatch,
                "SELECT count(*) FROM stock_ledger WHERE kind = 'allocation' AND item = 'badge'",
            )
            == 1
        )


async def test_a_consumer_crash_before_its_ack_does_not_allocate_twice() -> None:
    """The inbox: OrderVerified commits its allocation, the process dies before the ack,
    the redelivery to a replacement is absorbed."""
    async with dispatch_platform(parcel_size=PARCEL_SIZE) as alone:
        victim: Service = alone.service("dispatch")
        connection = victim.broker._connection
        assert connection is not None
        dispatch = Dispatch(alone)
        await alone.receive_stock(100)
        order = placed(6)
        await dispatch.send(order)
        await dispatch.until_state(order.order_id, "reserved")

        crashed = asyncio.Event()
        ack = victim.consumers.acknowledge

        async def die(message: Any) -> None:
            if message.raw_message.type != "OrderVerified":
                await ack(message)
                return
            crashed.set()
            asyncio.get_running_loop().create_task(connection.close())
            raise asyncio.CancelledError  # gone: the ack is never sent

        victim.consumers.acknowledge = die  # type: ignore[method-assign]
        await dispatch.send(verified(order))
        await asyncio.wait_for(crashed.wait(), 20)
        shipment = await dispatch.until_shipped(order.order_id)  # committed before the crash

        await victim.stop()
        before = INBOX_DUPLICATES.labels("dispatch", "OrderVerified")._value.get()
        await alone.start("dispatch")  # receives the unacknowledged OrderVerified again

        async def absorbed() -> bool:
            return INBOX_DUPLICATES.labels("dispatch", "OrderVerified")._value.get() > before

        await eventually(absorbed, timeout=30)
        received = await eventually(lambda: handoffs(alone))
        received += await handoffs(alone, timeout=1.0)
        # The connection closed under the handoff's publish may lose its confirm, and the
        # replacement then sends the same message again (at least once): never another one.
        assert len({h["event_id"] for h in received}) == 1
        assert {h["payload"]["shipment_reference"] for h in received} == {shipment.reference}
        assert await count(dispatch, "SELECT count(*) FROM shipments") == 1
        assert (await dispatch.picture()).ledger_consistent
