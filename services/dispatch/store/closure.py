"""The courier data deadline (ADR 0067): a set time after the portal closes, every name and
address dispatch holds for the courier is purged, whatever the courier has reported.

Until then a parcel's delivery is kept while it is with the courier (to answer a failed
attempt or a return), and dropped as soon as the courier reports it delivered or returned.
A courier that never reports would otherwise leave names and addresses with us for good.
"""

from __future__ import annotations

from datetime import datetime, timedelta

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
from shared.store.db import Database


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


def deadline(closed: datetime, days: float) -> datetime:
    return closed + timedelta(days=days)


async def purge_courier_data(db: Database, now: datetime, days: float) -> int:
    """After the deadline: scrub every delivery still held, the courier handoffs kept in the
    outbox and the courier's callback bodies. Returns how many rows it changed (0 before the
    deadline or while the portal is open; idempotent after)."""
    async with db.transaction() as session:
        closed = await closed_at(session)
        if closed is None or now < deadline(closed, days):
            return 0
        scrubbed = await session.execute(
            update(dispatch_orders)
            .where(
                dispatch_orders.c.delivery.is_not(None),
                ~dispatch_orders.c.delivery.has_key("anonymised"),
            )
            .values(delivery=SCRUBBED)
        )
        outbox = metadata.tables["outbox"]
        handoffs = await session.execute(
            outbox.delete().where(outbox.c.event_type == "CourierHandoff")
        )
        callbacks = await session.execute(
            update(courier_callbacks).where(courier_callbacks.c.body != {}).values(body={})
        )
        changed: int = 0
        for result in (scrubbed, handoffs, callbacks):
            changed += int(result.rowcount)  # type: ignore[attr-defined]
        return changed
