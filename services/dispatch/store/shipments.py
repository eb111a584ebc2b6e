"""Shipments (the parcels an allocated order left in) and the courier's reports on them. A
shipment is made in the statement that allocates its order (:mod:`.allocations`).

Shipment rows are locked after the stock row and order rows (the lock order is in
:mod:`services.dispatch.store`); a courier report locks only its shipment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.shipment import ShipmentStatus
from services.dispatch.store.tables import courier_callbacks, dispatch_orders, shipments


@dataclass(frozen=True)
class ShipmentRow:
    reference: str
    order_id: UUID
    status: ShipmentStatus
    parcels: list[dict[str, Any]]
    created_at: datetime | None = None
    updated_at: datetime | None = None


async def account_shipments(session: AsyncSession, account_id: UUID) -> list[ShipmentRow]:
    """The shipments of the account's orders."""
    rows = await session.execute(
        select(shipments)
        .join(dispatch_orders, dispatch_orders.c.order_id == shipments.c.order_id)
        .where(dispatch_orders.c.account_id == account_id)
    )
    return [_shipment(r) for r in rows]


def _shipment(row: Any) -> ShipmentRow:
    return ShipmentRow(
        row.reference,
        row.order_id,
        ShipmentStatus(row.status),
        row.parcels,
        row.created_at,
        row.updated_at,
    )


async def get_shipment(session: AsyncSession, reference: str) -> ShipmentRow | None:
    row = (
        await session.execute(select(shipments).where(shipments.c.reference == reference))
    ).first()
    return _shipment(row) if row else None


async def shipments_with_status(
    session: AsyncSession, status: ShipmentStatus, limit: int
) -> list[ShipmentRow]:
    """Shipments in ``status``, the longest in it first (customer services' work list)."""
    rows = await session.execute(
        select(shipments)
        .where(shipments.c.status == status)
        .order_by(shipments.c.updated_at, shipments.c.reference)
        .limit(limit)
    )
    return [_shipment(r) for r in rows]


@dataclass(frozen=True)
class CallbackRow:
    shipment_reference: str
    status: str
    known: bool
    received_at: datetime
    occurred_at: str


async def callbacks(
    session: AsyncSession, *, reference: str | None = None, known: bool | None = None, limit: int
) -> list[CallbackRow]:
    """Courier reports as kept, newest first: one shipment's, or those for no known shipment."""
    query = select(courier_callbacks).order_by(courier_callbacks.c.id.desc()).limit(limit)
    if reference is not None:
        query = query.where(courier_callbacks.c.shipment_reference == reference)
    if known is not None:
        query = query.where(courier_callbacks.c.known == known)
    return [
        CallbackRow(
            r.shipment_reference,
            r.status,
            r.known,
            r.received_at,
            str(r.body.get("occurred_at", "")),
        )
        for r in await session.execute(query)
    ]


async def lock_shipment(session: AsyncSession, reference: str) -> ShipmentRow | None:
    row = (
        await session.execute(
            select(shipments).where(shipments.c.reference == reference).with_for_update()
        )
    ).first()
    return _shipment(row) if row else None


async def shipment_for_order(session: AsyncSession, order_id: UUID) -> ShipmentRow | None:
    """The order's shipment, if it has one (for operations' checks and tests)."""
    row = (await session.execute(select(shipments).where(shipments.c.order_id == order_id))).first()
    return _shipment(row) if row else None


async def set_shipment_status(
    session: AsyncSession, reference: str, status: ShipmentStatus
) -> None:
    await session.execute(
        update(shipments)
        .where(shipments.c.reference == reference)
        .values(status=status, updated_at=func.now())
    )


async def record_callback(
    session: AsyncSession,
    *,
    signature_digest: str,
    shipment_reference: str,
    status: str,
    known: bool,
    body: dict[str, Any],
) -> bool:
    """Keep a courier callback; False if one with the same signature was kept before."""
    result = await session.execute(
        insert(courier_callbacks)
        .values(
            signature_digest=signature_digest,
            shipment_reference=shipment_reference,
            status=status,
            known=known,
            body=body,
        )
        .on_conflict_do_nothing(index_elements=["signature_digest"])
        .returning(courier_callbacks.c.id)
    )
    return result.first() is not None
