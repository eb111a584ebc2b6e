"""Dispatch's hot-path reads and stock movements on asyncpg's prepared statements
(shared/store/prepared.py) keep what they did through SQLAlchemy: the same rows written and
read, with the same Python types, the same refusals writing nothing, and a NULL order for
receipts and adjustments. Each runs on a throwaway database with dispatch's tables and no
service, so nothing else decides the rows a test writes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.stock import BADGE, Balance, LedgerKind
from services.dispatch.store import ledger, placements
from services.dispatch.store.tables import dispatch_orders, metadata, stock_ledger
from shared.store.db import Database
from tests.support.databases import throwaway_database
from tests.support.round_trips import recording

pytestmark = pytest.mark.integration

T = TypeVar("T")


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    async with throwaway_database("dispatch_prepared", metadata, pool_size=2) as database:
        yield database


async def only_prepared(db: Database, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in a transaction of its own after taking the stock lock, and check it sent
    no statement through SQLAlchemy: the point of these paths is to skip its handling."""
    async with db.transaction() as session:
        await ledger.lock_stock(session)
        with recording() as sent:
            result = await work(session)
    assert sent.count(kinds=("sqlalchemy",)) == 0, sent.tally()
    assert sent.count(kinds=("prepared",)) >= 1
    return result


async def entries(db: Database) -> list[dict[str, Any]]:
    """The badge ledger, oldest first."""
    columns = (
        stock_ledger.c.kind,
        stock_ledger.c.quantity,
        stock_ledger.c.order_id,
        stock_ledger.c.actor,
        stock_ledger.c.note,
        stock_ledger.c.round,
    )
    async with db.transaction() as session:
        rows = await session.execute(
            select(*columns).where(stock_ledger.c.item == BADGE).order_by(stock_ledger.c.id)
        )
        return [dict(r._mapping) for r in rows]


async def add_order(
    db: Database,
    *,
    seq: int,
    state: str = "pending",
    placed: bool = False,
    attempts: int = 0,
) -> uuid.UUID:
    order_id = uuid.uuid4()
    async with db.transaction() as session:
        await session.execute(
            insert(dispatch_orders).values(
                order_id=order_id,
                placement_seq=seq,
                quantity=1,
                state=state,
                placed=placed,
                decision_attempts=attempts,
            )
        )
    return order_id


async def test_movements_write_the_ledger_with_the_order_or_null_and_its_round(
    db: Database,
) -> None:
    order_id = uuid.uuid4()

    async def moves(session: AsyncSession) -> None:
        await ledger._move(
            session, LedgerKind.RECEIPT, 10, None, BADGE, actor="cli", note="delivery 7"
        )
        await ledger.reserve(session, order_id, 3)
        await ledger.release(session, order_id, 3)
        await ledger.reserve(session, order_id, 4)
        await ledger._move(
            session, LedgerKind.ADJUSTMENT, -2, None, BADGE, actor="staff", note="count"
        )

    await only_prepared(db, moves)
    assert [tuple(e.values()) for e in await entries(db)] == [
        ("receipt", 10, None, "cli", "delivery 7", 1),
        ("reservation", 3, order_id, None, None, 1),
        ("release", 3, order_id, None, None, 1),
        ("reservation", 4, order_id, None, None, 2),
        ("adjustment", -2, None, "staff", "count", 1),
    ]
    async with db.transaction() as session:
        assert await ledger.read_stock(session) == Balance(received=8, reserved=4, allocated=0)
        assert (await ledger.check_ledger(session)).consistent


@pytest.mark.parametrize(
    "refused",
    [
        lambda s: ledger.reserve(s, uuid.uuid4(), 6),
        lambda s: ledger.release(s, uuid.uuid4(), 3),
        lambda s: ledger.adjust(s, -4, actor="staff", note="lost"),
        lambda s: ledger.reserve_many(s, [(uuid.uuid4(), 3), (uuid.uuid4(), 3)]),
    ],
    ids=["reserve", "release", "adjust", "reserve_many"],
)
async def test_a_movement_the_balance_refuses_raises_and_writes_nothing(
    db: Database, refused: Callable[[AsyncSession], Awaitable[None]]
) -> None:
    async with db.transaction() as session:
        await ledger.receive(session, 5)
        await ledger.reserve(session, uuid.uuid4(), 2)
    before = await entries(db)
    async with db.transaction() as session:
        await ledger.lock_stock(session)
        with pytest.raises(ledger.StockConflict):
            await refused(session)
        # Still in the transaction: the refused statement itself wrote nothing.
        assert await ledger.read_stock(session) == Balance(received=5, reserved=2, allocated=0)
    assert await entries(db) == before


async def test_reserve_many_writes_one_entry_per_order_in_the_order_given_and_round(
    db: Database,
) -> None:
    first, again, last = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with db.transaction() as session:
        await ledger.receive(session, 20)
        await ledger.reserve(session, again, 2)
        await ledger.release(session, again, 2)  # its next reservation is round 2
    await only_prepared(db, lambda s: ledger.reserve_many(s, [(last, 1), (again, 2), (first, 5)]))
    reservations = [
        (e["order_id"], e["quantity"], e["round"])
        for e in (await entries(db))[3:]
        if e["kind"] == "reservation"
    ]
    assert reservations == [(last, 1, 1), (again, 2, 2), (first, 5, 1)]
    async with db.transaction() as session:
        assert await ledger.read_stock(session) == Balance(received=20, reserved=8, allocated=0)


async def test_the_decision_read_sees_the_balance_and_the_waitlist(db: Database) -> None:
    async with db.transaction() as session:
        await ledger.receive(session, 9)
        await ledger.reserve(session, uuid.uuid4(), 4)

    assert await only_prepared(db, placements.decision_context) == (5, None)

    await add_order(db, seq=7, state="waitlisted", placed=True)
    await add_order(db, seq=3, state="waitlisted", placed=True)
    available, first_waiting = await only_prepared(db, placements.decision_context)
    assert (available, first_waiting) == (5, 3)
    assert type(available) is int and type(first_waiting) is int


async def test_any_undecided_sees_recorded_placements_not_decided_nor_set_aside(
    db: Database,
) -> None:
    assert await only_prepared(db, placements.any_undecided) is False
    await add_order(db, seq=1, state="reserved", placed=True)
    await add_order(db, seq=2, attempts=placements.DECISION_ATTEMPTS)  # set aside
    assert await only_prepared(db, placements.any_undecided) is False
    await add_order(db, seq=3, attempts=placements.DECISION_ATTEMPTS - 1)
    assert await only_prepared(db, placements.any_undecided) is True
