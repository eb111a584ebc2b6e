"""Dispatch's stock: a ledger, first come first served by placement, a waitlist served in order.

Each test runs dispatch alone on a fresh database (an empty warehouse) and publishes what
orders and verification would, on the real broker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text

from services.dispatch.store import placements as dispatch_placements
from services.dispatch.store.gauges import (
    LEAFLET_UNITS,
    PLACEMENTS_UNDECIDED,
    STOCK_UNITS,
    WAITLIST_BADGES,
    WAITLIST_ORDERS,
    refresh,
)
from services.dispatch.usecases import fulfilment
from services.dispatch.usecases.placements import Placements
from shared.events import OrderCancelled, OrderPlaced, OrderRejected
from tests.support.dispatch import (
    Dispatch,
    dispatch_platform,
    placed,
    placements,
    verified,
)
from tests.support.keys import bearer, mint, staff
from tests.support.platform import Platform, eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def platform() -> AsyncIterator[Platform]:
    async with dispatch_platform() as p:
        yield p


@pytest.fixture
async def dispatch(platform: Platform) -> Dispatch:
    """An empty warehouse for each test, on the module's running dispatch."""
    return await Dispatch.empty(platform)


async def receive(platform: Platform, quantity: int, item: str = "badge") -> dict[str, Any]:
    async with platform.client("dispatch") as client:
        response = await client.post(
            "/api/stock/receipts",
            json={"item": item, "quantity": quantity, "note": "delivery note 42"},
            headers=staff("operations"),
        )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def stock_view(platform: Platform) -> dict[str, Any]:
    async with platform.client("dispatch") as client:
        response = await client.get("/api/stock", headers=staff("operations"))
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- the ledger and the operations API -------------------------------------------------------


async def test_operations_record_deliveries_and_see_levels_the_ledger_agrees_with(
    platform: Platform, dispatch: Dispatch
) -> None:
    assert (await receive(platform, 30))["available"] == 30
    await receive(platform, 100, "wellbeing_leaflet")
    await receive(platform, 100, "winter_leaflet")
    first, second = placed(12), placed(5)
    await dispatch.send(first)
    await dispatch.until_state(first.order_id, "reserved")
    await dispatch.send(second)
    await dispatch.until_state(second.order_id, "reserved")
    await dispatch.send(verified(first))
    shipment = await dispatch.until_shipped(first.order_id)

    assert await stock_view(platform) == {
        "item": "badge",
        "received": 30,
        "reserved": 5,
        "allocated": 12,
        "available": 13,
        "waitlisted_orders": 0,
        "waitlisted_badges": 0,
        "leaflets": [  # one parcel left, with one of each
            {"item": "wellbeing_leaflet", "received": 100, "packed": 1, "available": 99},
            {"item": "winter_leaflet", "received": 100, "packed": 1, "available": 99},
        ],
        "ledger_balanced": True,
    }
    async with dispatch.db.transaction() as s:
        entries = [
            tuple(r)
            for r in await s.execute(
                text("SELECT item, kind, quantity, note FROM stock_ledger ORDER BY id")
            )
        ]
    assert entries == [
        ("badge", "receipt", 30, "delivery note 42"),
        ("wellbeing_leaflet", "receipt", 100, "delivery note 42"),
        ("winter_leaflet", "receipt", 100, "delivery note 42"),
        ("badge", "reservation", 12, None),
        ("badge", "reservation", 5, None),
        ("badge", "allocation", 12, None),
        # Leaflets are not held for orders: their entries name the shipment that took them.
        ("wellbeing_leaflet", "allocation", 1, f"shipment {shipment.reference}"),
        ("winter_leaflet", "allocation", 1, f"shipment {shipment.reference}"),
    ]


async def test_leaflets_are_counted_not_rationed_a_shortfall_shows_but_parcels_go(
    platform: Platform, dispatch: Dispatch
) -> None:
    await receive(platform, 1_000)
    await receive(platform, 2, "wellbeing_leaflet")  # and no winter leaflets recorded at all
    orders = placements([450, 10], first_seq=700)  # 3 parcels of 200, 200, 50 and 1 parcel
    await dispatch.send(*orders, *(verified(o) for o in orders))
    for order in orders:
        await dispatch.until_shipped(order.order_id)

    view = await stock_view(platform)
    assert view["leaflets"] == [
        {"item": "wellbeing_leaflet", "received": 2, "packed": 4, "available": -2},
        {"item": "winter_leaflet", "received": 0, "packed": 4, "available": -4},
    ]
    assert view["allocated"] == 460 and view["ledger_balanced"] is True
    # StockReceived's consumers count badges: leaflet receipts stay in dispatch's ledger.
    assert [p["item"] for p in await dispatch.events("StockReceived")] == ["badge"]
    await refresh(dispatch.db, "dispatch")
    assert LEAFLET_UNITS.labels("dispatch", "winter_leaflet", "available")._value.get() == -4


async def test_stock_take_adjustments_are_entries_and_cannot_take_promised_stock(
    platform: Platform, dispatch: Dispatch
) -> None:
    await receive(platform, 10)
    holder, waiter = placed(8), placed(4)
    await dispatch.send(holder, waiter)
    await dispatch.until_state(waiter.order_id, "waitlisted")

    async def adjust(quantity: int) -> tuple[int, dict[str, object]]:
        async with platform.client("dispatch") as client:
            r = await client.post(
                "/api/stock/adjustments",
                json={"item": "badge", "quantity": quantity, "reason": "stock-take"},
                headers=staff("operations"),
            )
        return r.status_code, r.json()

    status, problem = await adjust(-3)  # only 2 are not promised to the first order
    assert status == 409 and problem["type"].endswith("/adjustment-exceeds-available")
    assert (await adjust(-2))[0] == 201
    status, view = await adjust(+4)  # found at the back of the shelf: the waiter gets them
    assert status == 201
    assert (view["available"], view["reserved"], view["waitlisted_orders"]) == (0, 12, 0)
    assert view["ledger_balanced"] is True
    assert await dispatch.state(waiter.order_id) == "reserved"
    assert (await adjust(0))[0] == 422


async def test_only_operations_may_see_or_change_stock(
    platform: Platform, dispatch: Dispatch
) -> None:
    body = {"item": "badge", "quantity": 5}
    async with platform.client("dispatch") as client:
        anonymous = await client.get("/api/stock")
        provider = await client.post(
            "/api/stock/receipts", json=body, headers=bearer(mint("provider", kind="cqc"))
        )
        reviewer = await client.get("/api/stock", headers=bearer(mint("customer_service")))
        invalid = await client.post(
            "/api/stock/receipts", json={**body, "quantity": -5}, headers=staff("operations")
        )
    assert [r.status_code for r in (anonymous, provider, reviewer, invalid)] == [401, 403, 403, 422]
    assert (await stock_view(platform))["received"] == 0


# --- first come, first served ----------------------------------------------------------------


async def test_orders_beyond_the_stock_wait_and_are_served_in_placement_order(
    platform: Platform, dispatch: Dispatch
) -> None:
    await receive(platform, 10)
    orders = placements([6, 3, 5, 1, 2], first_seq=100)
    await dispatch.send(*orders)
    await dispatch.until_placed(len(orders))
    await dispatch.handled()

    picture = await dispatch.picture()
    # 6 + 3 fit; the 5 does not, and the 1 and 2 placed after it queue behind it (strict).
    assert picture.reserved_seqs == [100, 101]
    assert picture.waitlist_in_service_order == [102, 103, 104]
    # Arrival order between them is up to the broker; who waits is not.
    last_word = {}
    for event_type in ("StockReserved", "StockReleased", "StockWaitlisted"):
        for payload in await dispatch.events(event_type):
            last_word.setdefault(payload["order_id"], []).append(event_type)
    waiting = {o for o, said in last_word.items() if said[-1] == "StockWaitlisted"}
    assert waiting == {str(o.order_id) for o in orders[2:]}

    view = await receive(platform, 4)  # 1 + 4 = 5: the head fits, then nothing else does
    assert view["waitlisted_orders"] == 2 and view["waitlisted_badges"] == 3
    assert (await dispatch.picture()).waitlist_in_service_order == [103, 104]
    await receive(platform, 100)
    picture = await dispatch.picture()
    assert picture.reserved_seqs == [100, 101, 102, 103, 104]
    assert picture.ledger_consistent and picture.available == 114 - 17


async def test_an_earlier_large_order_is_not_jumped_by_later_small_ones(
    platform: Platform, dispatch: Dispatch
) -> None:
    await receive(platform, 5)
    large, small = placed(50), placed(1)
    await dispatch.send(large, small)
    await dispatch.until_placed(2)
    assert await dispatch.state(large.order_id) == "waitlisted"
    assert await dispatch.state(small.order_id) == "waitlisted"  # 5 are free, but it queues

    await receive(platform, 44)  # 49: still one short for the head, so nobody moves
    assert (await dispatch.picture()).reserved_seqs == []
    await receive(platform, 1)
    picture = await dispatch.picture()
    assert picture.reserved_seqs == [large.placement_seq]
    assert picture.waitlisted_seqs == [small.placement_seq]


async def test_with_partial_fills_allowed_later_orders_that_fit_go_ahead() -> None:
    async with dispatch_platform(waitlist_partial_fills=True) as platform:
        dispatch = Dispatch(platform)
        await receive(platform, 5)
        large, small, medium = placed(50), placed(1), placed(4)
        await dispatch.send(large, small, medium)
        await dispatch.until_placed(3)
        picture = await dispatch.picture()
        assert picture.reserved_seqs == [small.placement_seq, medium.placement_seq]
        assert picture.waitlisted_seqs == [large.placement_seq]
        await receive(platform, 50)
        assert await dispatch.state(large.order_id) == "reserved"


async def test_an_order_arriving_after_later_placed_ones_takes_its_place_back(
    platform: Platform, dispatch: Dispatch
) -> None:
    """Relays and replicas reorder events: placement order decides, not arrival order."""
    await receive(platform, 10)
    early, later_a, later_b, verified_later = placements([4, 4, 4, 2], first_seq=10)
    # The later ones arrive first; one of them is verified and leaves before the early one
    # shows up (stock that is with the courier cannot come back).
    await dispatch.send(verified_later, verified(verified_later))
    await dispatch.until_shipped(verified_later.order_id)
    await dispatch.send(later_a, later_b)
    await dispatch.until_placed(3)
    assert (await dispatch.picture()).available == 0

    await dispatch.send(early)
    await dispatch.until_state(early.order_id, "reserved")
    picture = await dispatch.picture()
    # early takes back the latest-placed reservation, and no more than it needs.
    assert picture.reserved_seqs == [10, 11]
    assert picture.allocated_seqs == [13]
    assert picture.waitlist_in_service_order == [12]
    assert picture.available == 0 and picture.ledger_consistent, picture
    assert await dispatch.events("StockReleased") == [
        {"order_id": str(later_b.order_id), "quantity": 4}
    ]
    assert len(await dispatch.events("StockWaitlisted", later_b.order_id)) == 1

    await receive(platform, 4)  # later_b is reserved again: its second round in the ledger
    assert await dispatch.state(later_b.order_id) == "reserved"
    async with dispatch.db.transaction() as s:
        rounds = [
            tuple(r)
            for r in await s.execute(
                text("SELECT kind, round FROM stock_ledger WHERE order_id = :o ORDER BY id"),
                {"o": later_b.order_id},
            )
        ]
    assert rounds == [("reservation", 1), ("release", 1), ("reservation", 2)]
    assert (await dispatch.picture()).ledger_consistent


async def test_a_late_order_too_big_for_the_stock_holds_back_the_later_ones_it_overtakes(
    platform: Platform, dispatch: Dispatch
) -> None:
    """Strict mode: as if it had arrived first, later orders queue behind it."""
    await receive(platform, 8)
    early, later_a, later_b = placements([20, 4, 4], first_seq=10)
    await dispatch.send(later_a, later_b)
    await dispatch.until_placed(2)
    await dispatch.send(early)
    await dispatch.until_state(early.order_id, "waitlisted")
    picture = await dispatch.picture()
    assert picture.reserved_seqs == []
    assert picture.waitlist_in_service_order == [10, 11, 12]
    assert picture.available == 8 and picture.ledger_consistent

    await receive(platform, 12)
    picture = await dispatch.picture()
    assert picture.reserved_seqs == [10] and picture.waitlist_in_service_order == [11, 12]


async def test_a_placement_after_a_hole_waits_for_the_missing_one_before_it_can_ship(
    platform: Platform, dispatch: Dispatch
) -> None:
    """Replicas record placements side by side: placement 12 may be recorded, verified and on
    its way to the courier before 11 shows up, and stock with the courier cannot come back.
    So 12 waits a moment for 11 (ADR 0011): 11 gets the stock it was placed first for."""
    await receive(platform, 8)
    first, missing, later = placements([2, 6, 4], first_seq=10)
    await dispatch.send(first)
    await dispatch.until_state(first.order_id, "reserved")
    await dispatch.send(later, verified(later))
    await recorded(dispatch, later)
    # Long enough for 12 to reach the courier had it been decided at once (it did, before
    # the hold), well inside the hold.
    await asyncio.sleep(0.5)
    assert await dispatch.shipment(later.order_id) is None
    await dispatch.send(missing)
    await dispatch.until_state(later.order_id, "waitlisted")
    picture = await dispatch.picture()
    assert picture.reserved_seqs == [10, 11]
    assert picture.waitlist_in_service_order == [12]
    assert picture.available == 0 and picture.ledger_consistent, picture


async def test_a_number_that_never_comes_holds_the_next_placement_only_for_the_wait(
    platform: Platform, dispatch: Dispatch
) -> None:
    """Some placement numbers never reach dispatch (an insert orders rolled back): the
    placement after the hole is decided once it has waited, not kept for ever."""
    await receive(platform, 10)
    first, _never_sent, after = placements([2, 3, 4], first_seq=10)
    await dispatch.send(first)
    await dispatch.until_state(first.order_id, "reserved")
    await dispatch.send(after)
    await dispatch.until_state(after.order_id, "reserved", timeout=30)
    wait = platform.service("dispatch").settings.allocator_hole_wait_seconds
    async with dispatch.db.transaction() as s:
        held = await s.scalar(
            text(
                "SELECT extract(epoch FROM l.at - o.recorded_at) FROM stock_ledger l"
                " JOIN dispatch_orders o USING (order_id)"
                " WHERE l.kind = 'reservation' AND l.order_id = :o"
            ),
            {"o": after.order_id},
        )
    # The ledger stamps the deciding transaction's start, a moment before its check.
    assert wait > 0 and float(held) >= wait * 0.9, (held, wait)
    picture = await dispatch.picture()
    assert picture.reserved_seqs == [10, 12] and picture.available == 4


async def recorded(dispatch: Dispatch, order: OrderPlaced) -> None:
    """Wait until dispatch has recorded the placement (decided or not)."""

    async def seen() -> bool:
        found = await dispatch.order(order.order_id)
        return found is not None and found.placement_seq is not None

    await eventually(seen, 20)


# --- giving stock back -----------------------------------------------------------------------


@pytest.mark.parametrize("closing", ["rejected", "cancelled"])
async def test_rejection_or_cancellation_releases_the_stock_to_the_next_in_line(
    platform: Platform, dispatch: Dispatch, closing: str
) -> None:
    await receive(platform, 10)
    holder, big_waiter, small_waiter = placements([8, 9, 2], first_seq=500)
    await dispatch.send(holder, big_waiter, small_waiter)
    await dispatch.until_placed(3)
    if closing == "rejected":
        await dispatch.send(
            OrderRejected(order_id=holder.order_id, reviewer_id=uuid.uuid4(), reason="Not ASC")
        )
    else:
        await dispatch.send(OrderCancelled(order_id=holder.order_id))
    await dispatch.until_state(big_waiter.order_id, "reserved")

    picture = await dispatch.picture()
    assert picture.reserved_seqs == [501]
    assert picture.waitlisted_seqs == [502]  # 10 - 9 = 1 left, not enough for 2
    assert picture.ledger_consistent and picture.available == 1
    assert await dispatch.events("StockReleased", holder.order_id) == [
        {"order_id": str(holder.order_id), "quantity": 8}
    ]
    await dispatch.send(OrderCancelled(order_id=small_waiter.order_id))  # it leaves the queue
    await dispatch.handled()
    assert (await dispatch.picture()).waitlisted_seqs == []
    # Leaving the waitlist gives back nothing (if it held stock for a moment before the
    # earlier order arrived, that was released when the earlier order took it back).
    released = await dispatch.events("StockReleased", small_waiter.order_id)
    assert released[-1] == {"order_id": str(small_waiter.order_id), "quantity": 0}


# --- business gauges -------------------------------------------------------------------------


async def test_stock_and_waitlist_gauges_follow_the_database(
    platform: Platform, dispatch: Dispatch
) -> None:
    await receive(platform, 7)
    first, second, third = placements([5, 4, 6], first_seq=900)
    await dispatch.send(first, second, third, verified(first))
    await dispatch.until_shipped(first.order_id)
    await dispatch.until_placed(3)
    await refresh(dispatch.db, "dispatch")

    def stock(state: str) -> float:
        return float(STOCK_UNITS.labels("dispatch", state)._value.get())

    assert {s: stock(s) for s in ("received", "reserved", "allocated", "available")} == {
        "received": 7,
        "reserved": 0,
        "allocated": 5,
        "available": 2,
    }
    assert WAITLIST_ORDERS.labels("dispatch")._value.get() == 2
    assert WAITLIST_BADGES.labels("dispatch")._value.get() == 10

    async with platform.client("dispatch") as client:
        exposition = (await client.get("/metrics")).text
    assert 'care_stock_units{service="dispatch",state="available"} 2.0' in exposition
    assert 'care_waitlist_orders{service="dispatch"} 2.0' in exposition


# --- the allocator -----------------------------------------------------------------------------


async def test_a_placement_that_cannot_be_decided_is_parked_and_does_not_block_the_rest(
    platform: Platform, dispatch: Dispatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    await receive(platform, 100)
    poison, *healthy = placements([5, 1, 2, 3], first_seq=50)
    plain, decide = Placements._plain_step, Placements._decide

    def never_plain(self: Placements, placement: Any, *args: Any) -> Any:
        if placement.order.order_id == poison.order_id:
            return None
        return plain(self, placement, *args)

    async def failing(self: Placements, session: Any, placement: Any) -> None:
        if placement.order.order_id == poison.order_id:
            raise RuntimeError("simulated bug in the allocator")
        await decide(self, session, placement)

    monkeypatch.setattr(Placements, "_plain_step", never_plain)
    monkeypatch.setattr(Placements, "_decide", failing)
    await dispatch.send(poison, *healthy)
    for order in healthy:  # placed after the poison, decided all the same
        await dispatch.until_state(order.order_id, "reserved")

    async def parked() -> bool:
        async with dispatch.db.transaction() as s:
            return (await dispatch_placements.undecided_count(s)).parked == 1

    await eventually(parked, timeout=30)
    await refresh(dispatch.db, "dispatch")
    assert PLACEMENTS_UNDECIDED.labels("dispatch", "parked")._value.get() == 1
    assert await dispatch.state(poison.order_id) is None  # recorded, never decided

    monkeypatch.undo()  # the bug is fixed; an operator resets the attempts
    async with dispatch.db.transaction() as s:
        await s.execute(text("UPDATE dispatch_orders SET decision_attempts = 0"))
    platform.service("dispatch").allocator.kick()
    await dispatch.until_state(poison.order_id, "reserved")
    assert (await dispatch.picture()).ledger_consistent


async def test_a_placement_held_behind_a_hole_is_not_overtaken_when_decided_one_by_one(
    platform: Platform, dispatch: Dispatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that fails is decided again one placement at a time. Alone, the placement
    after the hole is held; the next one sees the held one's number just below its own, no
    hole, and would be reserved first if the pass went on: first come first served broken."""
    await receive(platform, 8)
    first, missing, held, later = placements([2, 1, 4, 4], first_seq=10)
    await dispatch.send(first)
    await dispatch.until_state(first.order_id, "reserved")
    # Long enough that the hold cannot run out while the test looks.
    settings = platform.service("dispatch").settings
    monkeypatch.setattr(settings, "allocator_hole_wait_seconds", 60.0)
    batch_failed, passed_one_by_one = _fail_one_batch_once(monkeypatch, held, later)

    await dispatch.send(held, later)
    await eventually(passed_one_by_one)
    assert await batch_failed()
    assert await dispatch.state(held.order_id) is None
    assert await dispatch.state(later.order_id) is None, "decided before the held placement"

    await dispatch.send(missing)
    await dispatch.until_state(later.order_id, "waitlisted")
    picture = await dispatch.picture()
    assert picture.reserved_seqs == [10, 11, 12]
    assert picture.waitlist_in_service_order == [13]
    assert picture.available == 1 and picture.ledger_consistent, picture


def _fail_one_batch_once(
    monkeypatch: pytest.MonkeyPatch, *orders: OrderPlaced
) -> tuple[Callable[[], Awaitable[bool]], Callable[[], Awaitable[bool]]]:
    """Make the allocator's first batch that finds all of ``orders`` recorded fail with a
    real error (not a passing database fault), so they are decided one by one; returns
    whether that batch failed and whether the one-by-one pass after it has ended."""
    decide, one_by_one = Placements.decide_placements, Placements._one_by_one
    seen: dict[str, bool] = {"failed": False, "passed": False}
    wanted = {order.order_id for order in orders}

    async def failing_once(
        self: Placements, session: Any, limit: int, *, only: uuid.UUID | None = None
    ) -> Any:
        if only is None and not seen["failed"]:
            if wanted <= set(await dispatch_placements.undecided_ids(session, limit)):
                seen["failed"] = True
                raise RuntimeError("simulated bug in a batch")
        return await decide(self, session, limit, only=only)

    async def watched(self: Placements, batch: int) -> Any:
        try:
            return await one_by_one(self, batch)
        finally:
            seen["passed"] = seen["failed"]

    async def failed() -> bool:
        return seen["failed"]

    async def passed() -> bool:
        return seen["passed"]

    monkeypatch.setattr(Placements, "decide_placements", failing_once)
    monkeypatch.setattr(Placements, "_one_by_one", watched)
    return failed, passed


async def test_a_waitlist_longer_than_a_page_is_served_past_its_first_page(
    platform: Platform, dispatch: Dispatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The waitlist is read a page at a time (500 on launch day); stock that covers more than
    a page must reach every order on it, in placement order."""
    monkeypatch.setattr(fulfilment, "WAITLIST_PAGE", 2)
    orders = placements([1, 1, 1, 1, 1], first_seq=600)
    await dispatch.send(*orders)
    await dispatch.until_placed(len(orders))
    await dispatch.handled()
    assert (await dispatch.picture()).waitlist_in_service_order == [600, 601, 602, 603, 604]
    await receive(platform, 5)
    picture = await dispatch.picture()
    assert picture.reserved_seqs == [600, 601, 602, 603, 604] and picture.waitlisted_seqs == []
