"""Dispatch's handlers sharing one consumer transaction keep its lock order (stock row first).

Group commit runs the handlers of deliveries that wait together one after another in one
transaction. Alone, recording a placement locks only its order row, and a handler that moves
stock locks the stock row before any order row. Together, a transaction that recorded
placement X and then reached a stock handler held X's row while it waited for the stock; the
holder of the stock lock, handling OrderVerified for that same X (verification is often
faster than dispatch's other replica), waited for X's row. PostgreSQL broke the deadlock after
a second by failing one of them, and the placements in the failed transaction were recorded
again alone, late: on a loaded machine later than the allocator waits for a missing placement
number (ADR 0011), so later orders were handed to the courier first and an earlier one was
waitlisted (the three-replica scale-out test failed in CI).

Here the interleaving is made certain on real PostgreSQL: the test holds the stock lock, lets a
shared transaction [OrderPlaced X, OrderVerified Y] reach its wait, then, still holding the
stock, handles OrderVerified X as the other replica would. Every dispatch consumer transaction
now takes the stock lock first (``Service.lock_first``), so no two of them take rows in
opposite orders either; the second test shows a batch of placements alone waiting for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.store import ledger
from shared.events import (
    OrderPlaced,
    OrderVerified,
    wrap,
)
from shared.messaging.topology import Subscription
from tests.support.dispatch import Dispatch, dispatch_platform, placed, verified
from tests.support.platform import Platform
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

PLACED = Subscription("dispatch", OrderPlaced).queue_name
VERIFIED = Subscription("dispatch", OrderVerified).queue_name


@pytest.fixture(scope="module")
async def platform() -> AsyncIterator[Platform]:
    async with dispatch_platform() as p:
        yield p


async def waiting_for_a_lock(session: AsyncSession) -> bool:
    """Whether another connection to this database waits for a lock: the shared transaction,
    for the stock row the test holds. (The allocator would wait for it too, but it takes the
    lock only with a placement to decide, and there is none. The statement's text cannot
    narrow it down: for a prepared statement waiting, PostgreSQL may still show the one
    before.)"""
    waiting = await session.scalar(
        text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
    )
    return bool(waiting)


async def test_a_placement_recorded_beside_a_stock_handler_never_deadlocks_with_its_verification(
    platform: Platform,
) -> None:
    probe = await Dispatch.empty(platform, stock=100)
    service = platform.service("dispatch")
    consumers = service.consumers
    # Y already holds stock, so its OrderVerified hands it over (a stock handler).
    y, x = placed(4, seq=1), placed(4, seq=2)
    await probe.send(y)
    await probe.handled()
    assert await probe.state(y.order_id) == "reserved"

    async with service.db.transaction() as holder:
        await ledger.lock_stock(holder)
        # Both wait together, so the consumer's worker runs them in one transaction, X first.
        shared = asyncio.gather(
            consumers.group.run(PLACED, consumers.handlers[PLACED], wrap(x, "test")),
            consumers.group.run(VERIFIED, consumers.handlers[VERIFIED], wrap(verified(y), "test")),
        )
        async with service.db.transaction() as looker:
            assert await eventually(lambda: waiting_for_a_lock(looker), timeout=10)
        # The other replica's OrderVerified for X, while the stock lock is held.
        await consumers.handlers[VERIFIED](holder, wrap(verified(x), "test"))

    # Without the first lock, PostgreSQL fails one side with a deadlock (here the shared
    # transaction: SharedTransactionFailed; or the holder: DeadlockDetected).
    assert list(await asyncio.wait_for(shared, timeout=30)) == [True, True]
    # Nothing was lost on the way: X is recorded, verified and handed over; Y too.
    await probe.handled()
    await probe.until_shipped(x.order_id)
    await probe.until_shipped(y.order_id)
    order = await probe.order(x.order_id)
    assert order is not None and order.placement_seq == 2


async def test_even_a_transaction_of_placements_alone_waits_for_the_stock_first(
    platform: Platform,
) -> None:
    """No dispatch consumer transaction takes a row before the stock: a batch of placements
    alone held new rows that the holder of the stock wanted while it waited for others (two
    orders verified before their placements were recorded, crossing), and deadlocked the same
    way. Without the first lock this batch takes no lock it could wait for, and commits at
    once."""
    probe = await Dispatch.empty(platform, stock=10)
    service = platform.service("dispatch")
    consumers = service.consumers
    x = placed(4, seq=1)
    async with service.db.transaction() as holder:
        await ledger.lock_stock(holder)
        recording = asyncio.ensure_future(
            consumers.group.run(PLACED, consumers.handlers[PLACED], wrap(x, "test"))
        )
        async with service.db.transaction() as looker:
            assert await eventually(lambda: waiting_for_a_lock(looker), timeout=10)
        assert not recording.done()
    assert await asyncio.wait_for(recording, timeout=30) is True
    order = await probe.order(x.order_id)
    assert order is not None and order.placement_seq == 1
