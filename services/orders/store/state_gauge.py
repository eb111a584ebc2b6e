"""Orders in each open state now, as the ``care_orders{state}`` gauge (the "where orders are
stuck" dashboard panel).

Read from orders' own database by one grouped count every ``interval`` seconds per replica,
never per request or per scrape (a scrape never waits on the database). Only the open states
are counted: delivered, rejected and cancelled orders only grow and say nothing about where
an order waits, and leaving them out keeps the count to the orders still moving. Each open
state is always reported (0 when empty), so the panel shows 0 rather than "No data".
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from services.orders.domain.order import Status
from services.orders.store.tables import orders
from shared.metrics import ORDERS_BY_STATE
from shared.periodic import Periodic
from shared.runtime import Service

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


def refresher(service: Service, every: timedelta = timedelta(seconds=30)) -> Periodic:
    """The chore that keeps the gauge fresh, for ``service.attach`` (a failed round is logged
    by :class:`Periodic`, and the gauge keeps its last figures until the next)."""

    return Periodic.keeping_fresh("orders-by-state-gauge", every, lambda: refresh(service))
