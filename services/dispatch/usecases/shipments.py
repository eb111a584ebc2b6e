"""The back office's views of shipments: those in a status (returned parcels to act on), one
shipment with every report the courier sent about it, and reports that matched no shipment.

Nothing here is personal: a shipment is an order id, a reference and parcel contents.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.shipment import ShipmentStatus
from services.dispatch.store import shipments
from services.dispatch.store.shipments import CallbackRow, ShipmentRow
from shared.usecases import NotFound

#: Reports shown with one shipment, newest first.
REPORTS_SHOWN = 100


async def in_status(session: AsyncSession, status: ShipmentStatus, limit: int) -> list[ShipmentRow]:
    """Shipments in ``status``, the longest in it first."""
    return await shipments.shipments_with_status(session, status, limit)


async def with_reports(
    session: AsyncSession, reference: str
) -> tuple[ShipmentRow, list[CallbackRow]]:
    """A shipment, as its label gives the reference, and the courier's reports on it."""
    row = await shipments.get_shipment(session, reference.strip().upper())
    if row is None:
        raise NotFound(
            "shipment-not-found",
            f"There is no shipment {reference}: check the reference on the parcel label.",
            title="Shipment not found",
        )
    reports = await shipments.callbacks(session, reference=row.reference, limit=REPORTS_SHOWN)
    return row, reports


async def unmatched_reports(session: AsyncSession, limit: int) -> list[CallbackRow]:
    """Authenticated courier reports naming a shipment we do not know, newest first."""
    return await shipments.callbacks(session, known=False, limit=limit)
