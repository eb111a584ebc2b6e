"""How many statements dispatch runs on its verified path (docs/adr/0054-cost-per-order-levers.md,
"Dispatch's verified path"): OrderVerified's handler for an order holding its reservation is
the stock lock, the order's lock read with its account's restriction, and one statement that
allocates, ships and writes the events. Each count is of the statements in the one
transaction, BEGIN and COMMIT aside (a consumer adds its inbox claim); the work each does is
checked beside it, so a count kept by dropping work fails too.

Also what that one statement must keep: a refused allocation writes nothing; and that the
placement's upsert and the allocator's lock and save, on prepared statements, keep the types
of what they write and read.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.order_state import OrderFacts, State
from services.dispatch.domain.parcels import split
from services.dispatch.domain.stock import leaflets_packed
from services.dispatch.store import allocations
from services.dispatch.store import orders as dispatch_orders
from services.dispatch.store import placements as dispatch_placements
from services.dispatch.store.ledger import StockConflict
from services.dispatch.usecases.orders import Orders
from services.dispatch.usecases.placements import Placements
from services.dispatch.usecases.privacy import Privacy
from shared.events import StockWaitlisted
from tests.support.dispatch import Dispatch, dispatch_platform, placed
from tests.support.platform import Platform, eventually
from tests.support.round_trips import RoundTrips, recording

pytestmark = pytest.mark.integration

PARCEL_SIZE = 10


@pytest.fixture
def statements() -> Iterator[RoundTrips]:
    with recording() as sent:
        yield sent


@pytest.fixture(scope="module")
async def platform() -> AsyncIterator[Platform]:
    async with dispatch_platform(parcel_size=PARCEL_SIZE) as p:
        yield p


@pytest.fixture
async def dispatch(platform: Platform) -> Dispatch:
    return await Dispatch.empty(platform, stock=1_000)


async def verify(
    platform: Platform, statements: RoundTrips | None, order_id: uuid.UUID
) -> list[str]:
    """OrderVerified's use case in a transaction of its own; the statements it ran (if
    ``statements`` records them)."""
    service = platform.service("dispatch")
    async with service.db.transaction() as session:
        await Orders(service).order_verified(session, order_id, "test-verified")
    return statements.in_session(session) if statements else []


async def reserved(dispatch: Dispatch, quantity: int) -> tuple[uuid.UUID, uuid.UUID]:
    """An order placed and reserved by the allocator: its id and its account's."""
    order = placed(quantity)
    await dispatch.send(order)
    await dispatch.until_state(order.order_id, "reserved")
    return order.order_id, order.account_id


async def as_the_holder_asked(
    platform: Platform, right: Callable[[Privacy, AsyncSession], Awaitable[None]]
) -> None:
    """One of the holder's rights carried out by dispatch, in a transaction of its own."""
    service = platform.service("dispatch")
    async with service.db.transaction() as session:
        await right(Privacy(service), session)


async def rows(dispatch: Dispatch, sql: str, **params: Any) -> list[Any]:
    async with dispatch.db.transaction() as session:
        return list((await session.execute(text(sql), params)).all())


async def test_a_reserved_order_verified_is_allocated_and_shipped_in_three_statements(
    platform: Platform, dispatch: Dispatch, statements: RoundTrips
) -> None:
    """The allocation's statement also writes the handoff and the dispatch notice (the
    outbox's insert was a fourth, at the commit)."""
    order_id, _ = await reserved(dispatch, 25)
    before = await dispatch.picture()

    ran = await verify(platform, statements, order_id)
    assert len(ran) == 3, ran
    assert "FROM stock WHERE item" in ran[0] and "FOR UPDATE" in ran[0]
    assert "restricted_accounts" in ran[1] and "FOR UPDATE" in ran[1]
    assert "INSERT INTO shipments" in ran[2] and "INSERT INTO outbox" in ran[2]

    shipment = await dispatch.shipment(order_id)
    assert shipment is not None and shipment.status == "handed_over"
    assert [p["badges"] for p in shipment.parcels] == [10, 10, 5]
    assert await dispatch.state(order_id) == "allocated"
    order = await dispatch.order(order_id)
    assert order is not None and order.facts.verified and order.facts.placed
    entries = await rows(
        dispatch,
        "SELECT item, kind, quantity, order_id, note, round FROM stock_ledger"
        " WHERE kind = 'allocation' ORDER BY id",
    )
    assert [tuple(e) for e in entries] == [
        ("badge", "allocation", 25, order_id, None, 1),
        ("wellbeing_leaflet", "allocation", 3, None, f"shipment {shipment.reference}", 1),
        ("winter_leaflet", "allocation", 3, None, f"shipment {shipment.reference}", 1),
    ]
    after = await dispatch.picture()
    assert (after.reserved, after.allocated) == (before.reserved - 25, before.allocated + 25)
    assert after.ledger_consistent
    leaflets = await rows(dispatch, "SELECT item, allocated FROM stock WHERE item <> 'badge'")
    assert sorted(tuple(r) for r in leaflets) == [("wellbeing_leaflet", 3), ("winter_leaflet", 3)]
    [handoff] = await dispatch.events("CourierHandoff")
    assert handoff["shipment_reference"] == shipment.reference
    [dispatched] = await dispatch.events("OrderDispatched", order_id)
    assert (dispatched["parcel_count"], dispatched["quantity"]) == (3, 25)

    # The same fact again (a reviewer's verdict after the automatic one): read, nothing else.
    again = await verify(platform, statements, order_id)
    assert len(again) == 2, again
    assert len(await rows(dispatch, "SELECT 1 FROM shipments WHERE order_id = :o", o=order_id)) == 1
    assert len(await dispatch.events("OrderDispatched", order_id)) == 1
    assert (await dispatch.picture()).ledger_consistent


async def test_a_restricted_accounts_order_is_held_back_in_three_and_goes_when_lifted(
    platform: Platform, dispatch: Dispatch, statements: RoundTrips
) -> None:
    order_id, account_id = await reserved(dispatch, 4)
    await as_the_holder_asked(platform, lambda p, s: p.account_restricted(s, account_id))

    ran = await verify(platform, statements, order_id)
    assert len(ran) == 3, ran
    assert "UPDATE dispatch_orders" in ran[2]
    assert await dispatch.shipment(order_id) is None
    order = await dispatch.order(order_id)
    assert order is not None and order.facts == OrderFacts(
        state=State.RESERVED, placed=True, verified=True
    )
    assert await dispatch.events("OrderDispatched", order_id) == []

    await as_the_holder_asked(
        platform, lambda p, s: p.restriction_lifted(s, account_id, "test-lifted")
    )
    assert await dispatch.state(order_id) == "allocated"
    assert await dispatch.shipment(order_id) is not None
    assert len(await dispatch.events("OrderDispatched", order_id)) == 1
    assert (await dispatch.picture()).ledger_consistent


async def test_a_verdict_waiting_for_the_stock_lock_sees_the_restriction_lifted_meanwhile(
    platform: Platform, dispatch: Dispatch
) -> None:
    """The lift deletes the restriction, takes the stock lock and finds nothing held back
    (the order is not verified yet); the verdict waits for that lock meanwhile. It must read
    the restriction after the wait, or the order would stay held back for good: why the stock
    lock is a statement of its own."""
    order_id, account_id = await reserved(dispatch, 3)
    await as_the_holder_asked(platform, lambda p, s: p.account_restricted(s, account_id))
    service = platform.service("dispatch")
    async with service.db.transaction() as lifting:
        await Privacy(service).restriction_lifted(lifting, account_id, "test-lifted")
        verdict = asyncio.create_task(verify(platform, None, order_id))
        assert await eventually(lambda: waiting_for_the_stock_lock(dispatch))
    await verdict
    assert await dispatch.state(order_id) == "allocated"
    assert await dispatch.shipment(order_id) is not None


async def waiting_for_the_stock_lock(dispatch: Dispatch) -> bool:
    found = await rows(
        dispatch,
        "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query LIKE '%FROM stock%FOR UPDATE%'",
    )
    return bool(found)


async def test_a_verdict_before_the_placement_is_remembered_and_ships_when_it_is_decided(
    platform: Platform, dispatch: Dispatch, statements: RoundTrips
) -> None:
    order = placed(3)
    ran = await verify(platform, statements, order.order_id)
    # The stock lock, the read that finds nothing, the empty row made, read again, saved.
    assert len(ran) == 5, ran
    remembered = await dispatch.order(order.order_id)
    assert remembered is not None and remembered.facts == OrderFacts(verified=True)

    before = await dispatch.picture()
    await dispatch.send(order)
    shipment = await dispatch.until_shipped(order.order_id)
    assert [p["badges"] for p in shipment.parcels] == [3]
    assert await dispatch.state(order.order_id) == "allocated"
    after = await dispatch.picture()
    assert after.ledger_consistent
    assert (after.reserved, after.allocated) == (before.reserved, before.allocated + 3)
    # The allocator read the account's restriction with its lock of the placement, not again.
    assert not restriction_read_alone(statements)
    # Reserved and handed over in one statement, both ledger entries in order, and no
    # StockReserved: the dispatch says what it reserved (ADR 0054, "Eighth step").
    assert not [s.sql for s in statements.sent if "reserved = reserved +" in s.sql]
    entries = await rows(
        dispatch,
        "SELECT kind, quantity, round FROM stock_ledger WHERE order_id = :o ORDER BY id",
        o=order.order_id,
    )
    assert [tuple(e) for e in entries] == [("reservation", 3, 1), ("allocation", 3, 1)]
    assert await dispatch.events("StockReserved", order.order_id) == []
    [dispatched] = await dispatch.events("OrderDispatched", order.order_id)
    assert (dispatched["quantity"], dispatched["reserved_with_dispatch"]) == (3, 3)
    # The batch decided it by the context it read once, and went on by what it did, without
    # reading the balance or the waitlist again (they were one more statement each).
    sent = [s.sql for s in statements.sent]
    batches = [s for s in sent if "AS anonymised" in s and "FOR UPDATE OF o" in s]
    context_reads = [s for s in sent if "AS first_waiting" in s]
    assert batches and 0 < len(context_reads) <= len(batches), (batches, context_reads)
    assert not [s for s in sent if "earlier_waiting" in s]


def restriction_read_alone(statements: RoundTrips) -> list[str]:
    """Statements that read an account's restriction and nothing else."""
    return [
        s.sql
        for s in statements.sent
        if s.sql.lstrip().startswith("SELECT")
        and "restricted_accounts" in s.sql
        and "dispatch_orders" not in s.sql
    ]


async def test_a_verdict_before_the_placement_of_a_restricted_account_is_held_back(
    platform: Platform, dispatch: Dispatch, statements: RoundTrips
) -> None:
    """The allocator decides a placement already verified with the restriction it read as it
    locked the placement: a restricted holder's order keeps its stock and is not handed over,
    and goes once the restriction is lifted."""
    order = placed(2)
    await verify(platform, None, order.order_id)
    await as_the_holder_asked(platform, lambda p, s: p.account_restricted(s, order.account_id))
    await dispatch.send(order)
    await dispatch.until_state(order.order_id, "reserved")
    held = await dispatch.order(order.order_id)
    assert held is not None and held.facts == OrderFacts(
        state=State.RESERVED, placed=True, verified=True
    )
    assert await dispatch.shipment(order.order_id) is None
    assert not restriction_read_alone(statements)

    await as_the_holder_asked(
        platform, lambda p, s: p.restriction_lifted(s, order.account_id, "test-lifted")
    )
    assert await dispatch.state(order.order_id) == "allocated"
    assert (await dispatch.picture()).ledger_consistent


async def test_an_anonymised_accounts_order_verified_ships_nothing(
    platform: Platform, dispatch: Dispatch, statements: RoundTrips
) -> None:
    order_id, account_id = await reserved(dispatch, 2)
    await as_the_holder_asked(
        platform, lambda p, s: p.account_anonymised(s, account_id, "test-anonymised")
    )

    ran = await verify(platform, statements, order_id)
    assert len(ran) == 3, ran
    assert await dispatch.shipment(order_id) is None
    order = await dispatch.order(order_id)
    assert order is not None and order.facts.closed and order.facts.verified
    assert order.facts.state is State.RELEASED
    assert order.delivery == {"anonymised": True}
    assert await dispatch.events("CourierHandoff") == []
    assert (await dispatch.picture()).ledger_consistent


async def test_a_placement_recorded_and_read_back_for_the_allocator_keeps_its_types(
    platform: Platform, dispatch: Dispatch, statements: RoundTrips
) -> None:
    """OrderPlaced's upsert, the allocator's lock of undecided placements and its save of a
    batch's facts run on asyncpg's prepared statements, one each, with their casts in the
    SQL: what goes in comes back as it was (UUIDs, the delivery's JSON, numbers). Rolled
    back, so the running allocator never sees the placement."""
    order = placed(7)
    service = platform.service("dispatch")
    facts = OrderFacts(state=State.RESERVED, placed=True)
    with pytest.raises(RuntimeError, match="rolled back"):
        async with service.db.transaction() as session:
            assert await Placements(service).order_placed(session, order, "test-placed")
            # The same placement again: seen.
            assert not await Placements(service).order_placed(session, order, "test-placed")
            [undecided] = await dispatch_placements.lock_undecided(session, 10, only=order.order_id)
            await dispatch_orders.save_facts_many(session, [(order.order_id, facts)])
            saved = await dispatch_orders.lock_order(session, order.order_id)
            ran = [s for s in statements.sent if s.session is session.sync_session]
            raise RuntimeError("rolled back")
    assert [s.kind for s in ran] == ["prepared"] * 5, ran
    recorded = undecided.order
    assert (recorded.order_id, recorded.account_id) == (order.order_id, order.account_id)
    assert isinstance(recorded.order_id, uuid.UUID) and isinstance(recorded.account_id, uuid.UUID)
    assert (recorded.placement_seq, recorded.quantity) == (order.placement_seq, 7)
    assert recorded.delivery == order.delivery.model_dump()
    assert recorded.correlation_id == "test-placed"
    assert recorded.facts == OrderFacts() and not undecided.anonymised
    assert undecided.recorded.previous_seq is None  # it opens the sequence: nothing below
    assert isinstance(undecided.recorded.age_seconds, float)
    assert undecided.recorded.age_seconds >= 0
    assert saved.facts == facts and saved.delivery == order.delivery.model_dump()
    assert await dispatch.order(order.order_id) is None


async def test_an_allocation_the_reservations_do_not_cover_writes_nothing(
    platform: Platform, dispatch: Dispatch
) -> None:
    order_id, _ = await reserved(dispatch, 5)
    before = await dispatch.picture()
    parcels = split(before.reserved + 1, PARCEL_SIZE)
    with pytest.raises(RuntimeError, match="rolled back"):
        async with dispatch.db.transaction() as session:
            with pytest.raises(StockConflict):
                await allocations.allocate_and_ship(
                    session,
                    order_id,
                    before.reserved + 1,
                    OrderFacts(state=State.ALLOCATED, placed=True, verified=True),
                    reference="SH-REFUSED1",
                    parcels=parcels,
                    leaflets=leaflets_packed(parcels),
                )
            # Seen from inside the transaction, before it rolls back: nothing was written.
            found = await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM shipments) AS shipments,"
                    " (SELECT count(*) FROM stock_ledger WHERE kind = 'allocation') AS entries,"
                    " (SELECT count(*) FROM stock WHERE item <> 'badge') AS leaflet_rows,"
                    " (SELECT state FROM dispatch_orders WHERE order_id = :o) AS state"
                ),
                {"o": order_id},
            )
            assert tuple(found.one()) == (0, 0, 0, "reserved")
            raise RuntimeError("rolled back")
    assert await dispatch.picture() == before


async def test_a_reservation_and_allocation_in_one_beyond_whats_available_writes_nothing(
    platform: Platform, dispatch: Dispatch
) -> None:
    """Reserving in the allocation's own statement takes only what is available: asking
    for more refuses the whole statement, as a reservation of its own would have been, the
    events emitted before it included; and the transaction cannot commit after it, even if
    its caller carried on."""
    order = placed(2)
    await verify(platform, None, order.order_id)
    before = await dispatch.picture()
    parcels = split(before.available + 1, PARCEL_SIZE)
    earlier = StockWaitlisted(order_id=order.order_id, quantity=1)
    with pytest.raises(StockConflict, match="cannot commit"):
        async with dispatch.db.transaction() as session:
            await platform.service("dispatch").emit(session, earlier, "test-refused")
            with pytest.raises(StockConflict, match="refused by the balance"):
                await allocations.allocate_and_ship(
                    session,
                    order.order_id,
                    before.available + 1,
                    OrderFacts(state=State.ALLOCATED, placed=True, verified=True),
                    reference="SH-REFUSED2",
                    parcels=parcels,
                    leaflets=leaflets_packed(parcels),
                    reserve_first=True,
                )
            found = await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM shipments) AS shipments,"
                    " (SELECT count(*) FROM stock_ledger WHERE order_id = :o) AS entries,"
                    " (SELECT allocated FROM stock WHERE item = 'badge') AS allocated,"
                    " (SELECT count(*) FROM outbox WHERE body LIKE :b) AS events"
                ),
                {"o": order.order_id, "b": f"%{order.order_id}%"},
            )
            assert tuple(found.one()) == (0, 0, before.allocated, 0)
    assert await dispatch.picture() == before
    assert await dispatch.events("StockWaitlisted", order.order_id) == []
