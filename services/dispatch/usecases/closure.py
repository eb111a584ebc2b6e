"""The courier data deadline (ADR 0067): a set time after the portal closes, every name and
address dispatch holds for the courier is purged, whatever the courier has reported.

Until then a parcel's delivery is kept while it is with the courier (to answer a failed
attempt or a return), and dropped as soon as the courier reports it delivered or returned.
A courier that never reports would otherwise leave names and addresses with us for good.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.store import closure
from shared.store.db import Database


async def portal_closed(session: AsyncSession, closed_at: datetime) -> None:
    """The deadline runs from the earliest closure heard (a redelivery changes nothing)."""
    await closure.record_closure(session, closed_at)


def deadline(closed: datetime, days: float) -> datetime:
    return closed + timedelta(days=days)


async def purge_courier_data(db: Database, now: datetime, days: float) -> int:
    """After the deadline: scrub every delivery still held, the courier handoffs kept in the
    outbox and the courier's callback bodies. Returns how many rows it changed (0 before the
    deadline or while the portal is open; idempotent after)."""
    async with db.transaction() as session:
        closed = await closure.closed_at(session)
        if closed is None or now < deadline(closed, days):
            return 0
        return await closure.scrub_courier_data(session)
