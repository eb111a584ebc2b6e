"""Erasing order ids reporting no longer needs: on a timer while the service runs, or by the
``forget-order-ids`` command.

An order's id links the events of one order while it is in progress. Once the order has
settled and the retention period has passed, the id is erased: what remains (reporting's own
number for the order, its anonymised state and log facts) cannot be tied back to an order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.reporting.store import repository
from shared.periodic import Periodic
from shared.store.db import Database


async def forget_order_ids(db: Database, retention_days: float) -> int:
    """Erase the ids of orders settled more than ``retention_days`` ago; returns how many."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    async with db.transaction() as session:
        return await repository.forget_settled_order_ids(session, cutoff)


def eraser(db: Database, retention_days: float, every: timedelta) -> Periodic:
    """The erasure as a chore for ``service.attach`` (a failed round is logged by
    :class:`Periodic` and the next one tries again: erasing is idempotent)."""
    return Periodic("reporting-erasure", every, lambda: forget_order_ids(db, retention_days))
