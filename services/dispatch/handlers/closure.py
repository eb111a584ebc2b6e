"""The portal's closure, as dispatch needs it: the start of the courier data deadline
(ADR 0067), and the chore that purges the courier data once it has passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.usecases import closure
from shared.events import Envelope, PortalClosed
from shared.periodic import Periodic
from shared.runtime import Service


def register(service: Service, days: float, every_seconds: float) -> Periodic:
    """Subscribe to PortalClosed on ``service``; returns the purge chore to attach."""

    @service.handles(PortalClosed)
    async def portal_closed(session: AsyncSession, event: Envelope[PortalClosed]) -> None:
        """Note when the portal closed: courier data goes ``days`` after it."""
        await closure.portal_closed(session, event.payload.closed_at)

    async def purge() -> int:
        return await closure.purge_courier_data(service.db, datetime.now(UTC), days)

    return Periodic("courier-data-purge", timedelta(seconds=every_seconds), purge)
