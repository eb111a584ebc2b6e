"""Reporting's projection against its own database, without the bus: whatever the order the
events arrive in, however they share transactions (group commit, several at once, shared
transactions that deadlock and run again alone) and however often each is delivered, the
counters and each order's state come out as the domain rules say, and a rebuild agrees."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import MetaData, text

from services.reporting.domain.facts import reduce
from services.reporting.domain.progress import (
    Figures,
    OrderState,
    event_figures,
    merge,
    order_figures,
)
from services.reporting.store import repository
from services.reporting.store.tables import (
    breakdown_totals,
    daily_breakdown,
    daily_figures,
    dispatch_durations,
    open_items,
)
from services.reporting.usecases import projection
from services.reporting.usecases.rebuilding import rebuild
from shared.events import (
    AccountKind,
    AccountRegisteredForReporting,
    Envelope,
    EventPayload,
    OrderCancelled,
    OrderDelivered,
    OrderDispatched,
    OrderPlacedForReporting,
    OrderReferred,
    OrderRejected,
    OrderVerified,
    StockReceived,
    StockReleased,
    StockReserved,
    StockWaitlisted,
    wrap,
)
from shared.messaging.group_commit import GroupCommit, SharedTransactionFailed
from shared.store.db import Database
from shared.store.inbox import inbox_table
from shared.store.migrations import ensure_database, upgrade
from tests.support import infra
from tests.support.round_trips import recording

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "reporting" / "store" / "migrations"

#: Few categories, so orders share counter rows and series.
REGIONS = ("London", "North West")
AUTHORITIES = ("Camden", "Leeds", "Kent")
ORG_TYPES = ("Hospice", "Care home")
#: A few minutes either side of midnight in London, over four days, so a series moves on
#: more than one day in one transaction and a step can be filed under another day.
START = datetime(2026, 3, 27, 23, 55, tzinfo=UTC)


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    name = f"care_reporting_projection_{infra.unique_suffix()}"
    url = f"{infra.PG}/{name}"
    await ensure_database(url)
    await upgrade(MIGRATIONS, url)
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()
        await infra.drop_databases([name])


def _at(rng: random.Random, after: datetime) -> datetime:
    return after + timedelta(minutes=rng.choice((1, 3, 7, 11, 60 * 25)), seconds=rng.random())


def _event(payload: EventPayload, at: datetime) -> Envelope[Any]:
    return wrap(payload, "test").model_copy(update={"occurred_at": at})


def lives(rng: random.Random, orders: int) -> list[list[Envelope[Any]]]:
    """Each order's events in the order they happened: placed, then one of the paths an
    order takes (verified and dispatched, referred and decided or still waiting, waitlisted
    and reserved or still waiting, released, cancelled, delivered)."""
    out = []
    for i in range(orders):
        order_id, quantity = uuid.uuid4(), rng.randint(1, 9)
        placed_at = START + timedelta(days=rng.randint(0, 3), minutes=rng.randint(0, 9))
        kind = rng.choice((AccountKind.CQC, AccountKind.NON_CQC))
        events = [
            _event(AccountRegisteredForReporting(kind=kind), placed_at),
            _event(
                OrderPlacedForReporting(
                    order_id=order_id,
                    placed_at=placed_at,
                    quantity=quantity,
                    account_kind=kind,
                    organisation_type=rng.choice(ORG_TYPES),
                    region=rng.choice(REGIONS),
                    local_authority=rng.choice(AUTHORITIES),
                ),
                placed_at,
            ),
        ]
        at = placed_at

        def step(payload: EventPayload) -> None:
            nonlocal at
            at = _at(rng, at)
            events.append(_event(payload, at))

        path = i % 6
        if path == 1:
            step(OrderReferred(order_id=order_id, reasons=["not_cqc"]))
            if rng.random() < 0.6:  # else still waiting for review
                decided = rng.choice((OrderVerified, OrderRejected, OrderCancelled))
                if decided is OrderVerified:
                    step(OrderVerified(order_id=order_id, decided_by="reviewer"))
                elif decided is OrderRejected:
                    step(OrderRejected(order_id=order_id, reviewer_id=uuid.uuid4(), reason="no"))
                else:
                    step(OrderCancelled(order_id=order_id))
            out.append(events)
            continue
        step(OrderVerified(order_id=order_id, decided_by="automatic"))
        if path == 2:
            step(StockWaitlisted(order_id=order_id, quantity=quantity))
            if rng.random() < 0.5:  # else still on the waitlist
                step(StockReserved(order_id=order_id, quantity=quantity))
            out.append(events)
            continue
        if path == 3:
            step(OrderCancelled(order_id=order_id))
            out.append(events)
            continue
        step(StockReserved(order_id=order_id, quantity=quantity))
        if path == 4:
            step(StockReleased(order_id=order_id, quantity=quantity))
            out.append(events)
            continue
        step(
            OrderDispatched(
                order_id=order_id, shipment_reference=f"S{i}", parcel_count=1, quantity=quantity
            )
        )
        if rng.random() < 0.5:
            at = _at(rng, at)
            step(OrderDelivered(order_id=order_id, shipment_reference=f"S{i}", delivered_at=at))
        out.append(events)
    return out


def expected(orders: list[list[Envelope[Any]]], others: list[Envelope[Any]]) -> Any:
    """Every counter and each order's state, from the domain rules alone."""
    total = Figures()
    states: dict[UUID, OrderState] = {}
    for envelope in [e for events in orders for e in events] + others:
        reduced = reduce(envelope.payload, envelope.occurred_at)
        assert reduced is not None
        total.add(event_figures(reduced.event_type, reduced.fact))
        if reduced.order_id is not None:
            state = states.get(reduced.order_id, OrderState())
            states[reduced.order_id] = merge(state, reduced.event_type, reduced.fact)
    for state in states.values():
        total.add(order_figures(state))
    rows = repository.counter_rows(total.pruned())
    return _as_counters(rows), states


#: How many of each counter table's columns are its key (the rest are amounts).
KEYS = {
    daily_figures: 2,
    daily_breakdown: 4,
    breakdown_totals: 3,
    dispatch_durations: 2,
    open_items: 2,
}


def _as_counters(rows: dict[Any, list[tuple[Any, ...]]]) -> dict[str, dict[Any, Any]]:
    """Rows as key -> amount (or amounts), leaving out rows of no amount."""
    out: dict[str, dict[Any, Any]] = {}
    for table, table_rows in rows.items():
        n = KEYS[table]
        out[table.name] = {
            tuple(r[:n]): (r[n] if len(r) == n + 1 else tuple(r[n:]))
            for r in table_rows
            if any(r[n:])
        }
    return out


async def stored(db: Database) -> tuple[dict[str, dict[Any, Any]], dict[bytes, Any]]:
    """The counters' non-zero amounts (each series spread into its days), and each order's
    stored state and settled time by its key."""
    async with db.transaction() as s:
        rows: dict[Any, list[tuple[Any, ...]]] = {
            daily_figures: list(await s.execute(text("SELECT * FROM daily_figures"))),
            daily_breakdown: list(
                await s.execute(
                    text(
                        "SELECT dimension, metric, dim_value, array_lower(counts, 1) + i - 1, n"
                        " FROM daily_breakdown, unnest(counts) WITH ORDINALITY AS c(n, i)"
                    )
                )
            ),
            breakdown_totals: list(await s.execute(text("SELECT * FROM breakdown_totals"))),
            dispatch_durations: list(await s.execute(text("SELECT * FROM dispatch_durations"))),
            open_items: list(await s.execute(text("SELECT * FROM open_items"))),
        }
        orders = {
            bytes(key): (OrderState.from_json(state), settled)
            for key, state, settled in await s.execute(
                text("SELECT order_key, state, settled_at FROM order_progress")
            )
        }
    # A zero left by a live counter is no figure (see test_reporting_mi), but an open item
    # at no orders must be gone.
    closed = [r for r in rows[open_items] if r[2] <= 0]
    assert not closed, closed
    return _as_counters(
        {t: [tuple(r) for r in table_rows] for t, table_rows in rows.items()}
    ), orders


async def deliver(db: Database, stream: list[tuple[str, Envelope[Any]]]) -> None:
    """Each (queue, event) through group commit, as the consumer does: three transactions at
    once of up to eight deliveries each; a shared transaction that fails (a deadlock between
    two of them) runs its deliveries again alone."""
    group = GroupCommit("reporting", db, inbox_table(MetaData()), workers=3, max_batch=8)

    async def handle(session: Any, envelope: Envelope[Any]) -> None:
        await projection.record(session, envelope)

    async def one(queue: str, envelope: Envelope[Any]) -> None:
        alone = False
        while True:
            try:
                await group.run(queue, handle, envelope, alone=alone)
                return
            except SharedTransactionFailed:
                alone = True

    try:
        await asyncio.gather(*(one(queue, envelope) for queue, envelope in stream))
    finally:
        await group.close()


@pytest.mark.parametrize("seed", [1, 2])
async def test_the_figures_do_not_depend_on_arrival_order_batching_or_redelivery(
    db: Database, seed: int
) -> None:
    rng = random.Random(seed)
    orders = lives(rng, 90)
    others = [
        _event(StockReceived(item="badge", quantity=50 + n), START + timedelta(hours=n))
        for n in range(3)
    ]

    # Three orders with the same categories placed on three days, in one transaction: one
    # series moves on three days at once.
    same = [events[1] for events in orders[:3]]
    same = [
        e.model_copy(
            update={
                "payload": e.payload.model_copy(
                    update={
                        "placed_at": START + timedelta(days=d),
                        "region": "London",
                        "local_authority": "Camden",
                        "organisation_type": "Hospice",
                        "account_kind": AccountKind.CQC,
                    }
                )
            }
        )
        for d, e in enumerate(same)
    ]
    for events, placed in zip(orders[:3], same, strict=True):
        events[1] = placed
    want, states = expected(orders, others)
    async with db.transaction() as session:
        for placed in same:
            await projection.record(session, placed)

    # Everything else shuffled (a step often before its order's placement), a quarter of the
    # events delivered twice (to another queue, so only the log's own key absorbs it), and
    # the three placements above delivered again.
    stream = [("q", e) for events in orders for e in events if e not in same] + [
        ("q", e) for e in others
    ]
    stream += [("again", e) for _, e in rng.sample(stream, len(stream) // 4)]
    stream += [("again", e) for e in same]
    rng.shuffle(stream)
    await deliver(db, stream)

    counters, stored_orders = await stored(db)
    assert counters == want
    assert {t for t, rows in want.items() if rows} == {
        "daily_figures",
        "daily_breakdown",
        "breakdown_totals",
        "dispatch_durations",
        "open_items",
    }
    async with db.transaction() as session:
        for order_id, state in states.items():
            key = await repository.keyed(session, order_id)
            assert stored_orders[key][0] == state
            settled = [t for t in (state.delivered_at, state.rejected_at, state.cancelled_at) if t]
            assert stored_orders[key][1] == (max(settled) if settled else None)
        logged = await session.scalar(text("SELECT count(*) FROM event_log"))
    assert logged == sum(len(events) for events in orders) + len(others)

    # Every event delivered once more changes nothing; a rebuild from the log agrees.
    await deliver(db, [("later", e) for events in orders for e in events])
    assert (await stored(db))[0] == want
    await rebuild(db)
    assert (await stored(db))[0] == want


async def test_a_transaction_projects_its_events_in_two_statements(db: Database) -> None:
    """However many events a consumer transaction carries: one statement logs the facts and
    locks the orders, one stores the orders' states and moves every counter (then an open
    item left at no orders, or a series moved on two days, costs one more)."""
    noon = datetime(2026, 3, 30, 12, tzinfo=UTC)
    orders = []
    for n in range(6):
        order_id = uuid.uuid4()
        placed = OrderPlacedForReporting(
            order_id=order_id,
            placed_at=noon,
            quantity=n + 1,
            account_kind=AccountKind.CQC,
            region=REGIONS[n % 2],
            local_authority=AUTHORITIES[n % 3],
        )
        orders.append(
            [
                _event(payload, noon)
                for payload in (
                    AccountRegisteredForReporting(kind=AccountKind.CQC),
                    placed,
                    OrderVerified(order_id=order_id, decided_by="automatic"),
                    StockReserved(order_id=order_id, quantity=n + 1),
                    OrderDispatched(
                        order_id=order_id, shipment_reference="S", parcel_count=1, quantity=n + 1
                    ),
                )
            ]
        )
    async with db.transaction() as session:  # the link key is read once per engine
        await repository.keyed(session, uuid.uuid4())

    with recording(db.engine) as sent:
        for step in range(5):
            sent.clear()
            async with db.transaction() as session:
                for events in orders:
                    await projection.record(session, events[step])
            assert sent.count(kinds=("prepared",)) == 2, sent.of()
            assert not sent.of(kinds=("sqlalchemy",))
