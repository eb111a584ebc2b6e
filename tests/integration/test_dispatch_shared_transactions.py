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
stock, handles OrderVerified X as the other replica would. Every dispatch handler that writes
now takes the stock lock first (so no two of its transactions take rows in opposite orders
either); the second test finds those handlers by running them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.stock import BADGE
from services.dispatch.handlers.locks import STOCK_FIRST
from services.dispatch.store import ledger
from shared.events import (
    AccountAnonymised,
    AccountRestricted,
    AccountRestrictionLifted,
    DeliveryAddressChanged,
    EventPayload,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    OrderVerified,
    PortalClosed,
    SubjectAccessRequested,
    wrap,
)
from shared.messaging.topology import Subscription, subscriptions
from tests.support.dispatch import DELIVERY, Dispatch, dispatch_platform, placed, verified
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
            consumers.run(PLACED, wrap(x, "test")),
            consumers.run(VERIFIED, wrap(verified(y), "test")),
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


class Undone(Exception):
    """Rolls a handler's transaction back."""


def one_of_each(order: OrderPlaced) -> list[EventPayload]:
    """An event for each of dispatch's queues, about ``order`` and its account."""
    someone = uuid.uuid4()
    return [
        order,
        OrderVerified(order_id=order.order_id, decided_by="automatic"),
        OrderRejected(order_id=order.order_id, reviewer_id=someone, reason="test"),
        OrderCancelled(order_id=order.order_id),
        DeliveryAddressChanged(order_id=order.order_id, changed_by=someone, delivery=DELIVERY),
        AccountAnonymised(account_id=order.account_id),
        SubjectAccessRequested(request_id=uuid.uuid4(), account_id=order.account_id),
        AccountRestricted(account_id=order.account_id, ground="test"),
        AccountRestrictionLifted(account_id=order.account_id),
        PortalClosed(closed_at=datetime.now(UTC)),
    ]


async def rows_written(session: AsyncSession) -> int:
    """Rows written in dispatch's own tables (the inbox and outbox, which every consumer
    transaction writes, left out), as the connection counts them: its counts of earlier
    transactions not yet reported stay in, so compare two readings in one transaction."""
    written = await session.scalar(
        text(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)"
            " FROM pg_stat_xact_user_tables WHERE relname NOT IN ('inbox', 'outbox')"
        )
    )
    return int(written or 0)


async def test_every_dispatch_handler_that_writes_takes_the_stock_lock_first(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by running each handler, not from a list: a handler added later that writes
    dispatch's tables without declaring the stock lock could take rows in another order than
    the holder of the stock in a shared transaction, and deadlock with it."""
    await Dispatch.empty(platform, stock=10)
    service = platform.service("dispatch")
    consumers = service.consumers
    taking: set[str] = set()
    writing: set[str] = set()
    current = ""
    lock_stock = ledger.lock_stock

    async def recorded(session: AsyncSession, item: str = BADGE) -> Any:
        taking.add(current)
        return await lock_stock(session, item)

    monkeypatch.setattr(ledger, "lock_stock", recorded)
    order = placed(4, seq=1)
    queues = {Subscription("dispatch", type(e)).queue_name: e for e in one_of_each(order)}
    assert set(queues) == {s.queue_name for s in subscriptions() if s.consumer == "dispatch"}
    for queue, payload in queues.items():
        current = queue
        with contextlib.suppress(Undone):
            async with service.db.transaction() as session:
                before = await rows_written(session)
                await consumers.handlers[queue](session, wrap(payload, "test"))
                if await rows_written(session) > before:
                    writing.add(current)
                raise Undone  # each handler on the same untouched state
    declared = {q for q, lock in consumers.first_locks.items() if lock is STOCK_FIRST}
    assert declared == taking | writing
    # Only the subject access request reads and answers without writing dispatch's tables.
    assert set(queues) - declared == {Subscription("dispatch", SubjectAccessRequested).queue_name}
