"""Consumers never hold more database transactions at once than they are allowed.

Without the cap, every queue's prefetch worth of deliveries opened a transaction together and
the HTTP requests of the same process waited for a pooled connection until they failed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

from sqlalchemy import MetaData

from shared.events import OrderPlaced
from shared.messaging.consumer import Consumers
from shared.messaging.topology import Subscription
from shared.store.inbox import inbox_table


class CountingDatabase:
    """Counts the transactions open at once; each inbox claim succeeds."""

    def __init__(self) -> None:
        self.open = 0
        self.most = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        self.open += 1
        self.most = max(self.most, self.open)
        try:
            yield SimpleNamespace(execute=self._execute)
        finally:
            self.open -= 1

    async def _execute(self, _statement: Any) -> Any:
        return SimpleNamespace(first=lambda: (1,))


async def handle_many(concurrency: int | None, deliveries: int = 40) -> int:
    db = CountingDatabase()
    consumers = Consumers(
        "dispatch",
        broker=None,  # type: ignore[arg-type]
        db=db,  # type: ignore[arg-type]
        inbox_table=inbox_table(MetaData()),
        prefetch=32,
        concurrency=concurrency,
    )

    async def handler(_session: Any, _envelope: Any) -> None:
        await asyncio.sleep(0.01)

    sub = Subscription("dispatch", OrderPlaced)
    await asyncio.gather(
        *(
            consumers._run_in_transaction(
                sub, handler, SimpleNamespace(event_id=uuid.uuid4())  # type: ignore[arg-type]
            )
            for _ in range(deliveries)
        )
    )
    return db.most


async def test_deliveries_wait_for_a_slot_instead_of_taking_every_connection() -> None:
    assert await handle_many(concurrency=5) == 5


async def test_without_a_cap_every_delivery_opens_a_transaction_at_once() -> None:
    assert await handle_many(concurrency=None) == 40
