"""When the portal closed, and the courier data that goes a set time after it (the deadline
is kept by :mod:`services.dispatch.usecases.closure`, ADR 0067)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.delivery import SCRUBBED
from services.dispatch.store.tables import (
    courier_callbacks,
    dispatch_orders,
    metadata,
    portal_closure,
)


async def record_closure(session: AsyncSession, closed_at: datetime) -> None:
    """Keep the earliest closure time heard (a redelivered PortalClosed changes nothing)."""
    stmt = insert(portal_closure).values(id=1, closed_at=closed_at)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={"closed_at": func.least(portal_closure.c.closed_at, stmt.excluded.closed_at)},
        )
    )


async def closed_at(session: AsyncSession) -> datetime | None:
    found: datetime | None = await session.scalar(select(portal_closure.c.closed_at))
    return found


async def scrub_courier_data(session: AsyncSession) -> int:
    """Scrub every delivery still held, the courier handoffs kept in the outbox and the
    courier's callback bodies; returns how many rows changed."""
    scrubbed = await session.execute(
        update(dispatch_orders)
        .where(
            dispatch_orders.c.delivery.is_not(None),
            ~dispatch_orders.c.delivery.has_key("anonymised"),
        )
        .values(delivery=SCRUBBED)
    )
    outbox = metadata.tables["outbox"]
    handoffs = await session.execute(outbox.delete().where(outbox.c.event_type == "CourierHandoff"))
    callbacks = await session.execute(
        update(courier_callbacks).where(courier_callbacks.c.body != {}).values(body={})
    )
    changed: int = 0
    for result in (scrubbed, handoffs, callbacks):
        changed += int(result.rowcount)  # type: ignore[attr-defined]
    return changed
