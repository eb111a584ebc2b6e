"""Orders in each open state now, as the ``care_orders{state}`` gauge (the "where orders are
stuck" dashboard panel).

Read from orders' own database by one grouped count every ``interval`` seconds per replica,
never per request or per scrape (a scrape never waits on the database). Only the open states
are counted: delivered, rejected and cancelled orders only grow and say nothing about where
an order waits, and leaving them out keeps the count to the orders still moving. Each open
state is always reported (0 when empty), so the panel shows 0 rather than "No data".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select

from services.orders.domain.order import Status
from services.orders.store.tables import orders
from shared.logging import get_logger
from shared.metrics import ORDERS_BY_STATE
from shared.runtime import Service

log = get_logger(__name__)

OPEN_STATES = (
    Status.PLACED,
    Status.WAITLISTED,
    Status.IN_REVIEW,
    Status.VERIFIED,
    Status.DISPATCHED,
)


async def refresh(service: Service) -> dict[str, int]:
    """Count the open orders by state; set the gauge and return the counts."""
    states = [str(s.value) for s in OPEN_STATES]
    async with service.db.transaction() as session:
        rows = (
            await session.execute(
                select(orders.c.status, func.count())
                .where(orders.c.status.in_(states))
                .group_by(orders.c.status)
            )
        ).all()
    counts = dict.fromkeys(states, 0) | {str(status): int(n) for status, n in rows}
    for state, count in counts.items():
        ORDERS_BY_STATE.labels(service.name, state).set(count)
    return counts


async def _poll(service: Service, interval: float) -> None:
    while True:
        try:
            await refresh(service)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: keep the last figures, try again
            log.warning("orders-by-state gauge not refreshed", error=type(exc).__name__)
        await asyncio.sleep(interval)


def install(app: FastAPI, service: Service, interval: float = 30.0) -> None:
    """Refresh the gauge in the background for as long as the app's lifespan runs."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with inner(application) as state:
            task = asyncio.create_task(_poll(service, interval), name="orders-by-state-gauge")
            try:
                yield state
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app.router.lifespan_context = lifespan
