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


async def take(session: AsyncSession) -> None:
    """What a lock would run; never run here."""


STOCK = FirstLock("stock", take)
LEAFLETS = FirstLock("leaflets", take)


async def handler(session: AsyncSession, envelope: Envelope[Any]) -> None:
    """A handler; never run here."""


def delivery(first: FirstLock | None) -> _Delivery:
    envelope = wrap(OrderCancelled(order_id=uuid.uuid4()), "test")
    return _Delivery("queue", handler, envelope, {}, otel_context.get_current(), first)


async def test_a_lock_several_deliveries_declare_is_taken_once() -> None:
    batch = [delivery(STOCK), delivery(None), delivery(STOCK)]
    assert first_locks(batch) == [STOCK]


async def test_locks_are_taken_in_the_order_of_their_names_not_of_the_deliveries() -> None:
    assert first_locks([delivery(STOCK), delivery(LEAFLETS)]) == [LEAFLETS, STOCK]
    assert first_locks([delivery(LEAFLETS), delivery(STOCK)]) == [LEAFLETS, STOCK]


async def test_a_batch_whose_handlers_declare_nothing_takes_no_lock() -> None:
    assert first_locks([delivery(None), delivery(None)]) == []
