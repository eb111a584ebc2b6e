"""The locks a shared transaction takes before its handlers: each once, always in one order.

Two transactions that need the same two first locks must take them in the same order, or they
deadlock on the locks meant to prevent deadlocks (docs/adr/0051, amendment of 2026-12-04).
"""

from __future__ import annotations

import uuid
from typing import Any

from opentelemetry import context as otel_context
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import Envelope, OrderCancelled, wrap
from shared.messaging.group_commit import FirstLock, _Delivery, first_locks


async def lock_stock(session: AsyncSession) -> None:
    """A stand-in for a service's first lock."""


async def lock_leaflets(session: AsyncSession) -> None:
    """Another."""


async def handler(session: AsyncSession, envelope: Envelope[Any]) -> None:
    """A handler; never run here."""


def delivery(first: FirstLock | None) -> _Delivery:
    envelope = wrap(OrderCancelled(order_id=uuid.uuid4()), "test")
    return _Delivery("queue", handler, envelope, {}, otel_context.get_current(), first)


async def test_a_lock_several_deliveries_declare_is_taken_once() -> None:
    batch = [delivery(lock_stock), delivery(None), delivery(lock_stock)]
    assert first_locks(batch) == [lock_stock]


async def test_two_batches_take_the_same_locks_in_the_same_order_whatever_their_order() -> None:
    one = first_locks([delivery(lock_stock), delivery(lock_leaflets)])
    other = first_locks([delivery(lock_leaflets), delivery(lock_stock)])
    assert one == other == [lock_leaflets, lock_stock]


async def test_a_batch_whose_handlers_declare_nothing_takes_no_lock() -> None:
    assert first_locks([delivery(None), delivery(None)]) == []
