"""Shipments for the back office: returned parcels to act on, one shipment's courier history,
and courier reports that matched no shipment (kept for investigation).

Nothing here is personal: a shipment is an order id, a reference and parcel contents; who and
where are in the order, which customer services look up in their own tools.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from services.dispatch.domain.shipment import ShipmentStatus
from services.dispatch.store.shipments import CallbackRow, ShipmentRow
from services.dispatch.usecases import shipments
from shared.http.auth import require_role
from shared.runtime import Service

#: Module level, not inside router(): with postponed annotations FastAPI resolves the name
#: in the module's globals, and a local alias made the OpenAPI document and ?limit= fail.
Limit = Annotated[int, Query(ge=1, le=1000)]


class ShipmentView(BaseModel):
    shipment_reference: str
    order_id: UUID
    status: ShipmentStatus
    parcel_count: int
    badges: int
    handed_over_at: datetime | None
    status_since: datetime | None


class CourierReportView(BaseModel):
    shipment_reference: str
    status: str
    occurred_at: str
    received_at: datetime


class ShipmentDetail(ShipmentView):
    courier_reports: list[CourierReportView]


def _view(row: ShipmentRow) -> ShipmentView:
    return ShipmentView(
        shipment_reference=row.reference,
        order_id=row.order_id,
        status=row.status,
        parcel_count=len(row.parcels),
        badges=sum(int(p["badges"]) for p in row.parcels),
        handed_over_at=row.created_at,
        status_since=row.updated_at,
    )


def _report(row: CallbackRow) -> CourierReportView:
    return CourierReportView(
        shipment_reference=row.shipment_reference,
        status=row.status,
        occurred_at=row.occurred_at,
        received_at=row.received_at,
    )


def router(service: Service) -> APIRouter:
    api = APIRouter(tags=["shipments"])
    back_office = [Depends(require_role(service.verifier, "customer_service", "operations"))]

    @api.get("/api/shipments", response_model=list[ShipmentView], dependencies=back_office)
    async def by_status(status: ShipmentStatus, limit: Limit = 200) -> list[ShipmentView]:
        """Shipments in one status, longest waiting first: ``?status=returned`` is the list
        of parcels the courier brought back, for customer services to act on."""
        async with service.db.transaction() as session:
            rows = await shipments.in_status(session, status, limit)
        return [_view(r) for r in rows]

    @api.get("/api/shipments/{reference}", response_model=ShipmentDetail, dependencies=back_office)
    async def one(reference: str) -> ShipmentDetail:
        """A shipment and every report the courier sent about it, newest first."""
        async with service.db.transaction() as session:
            row, reports = await shipments.with_reports(session, reference)
        return ShipmentDetail(
            **_view(row).model_dump(), courier_reports=[_report(r) for r in reports]
        )

    @api.get(
        "/api/courier/unmatched-reports",
        response_model=list[CourierReportView],
        dependencies=back_office,
    )
    async def unmatched(limit: Limit = 200) -> list[CourierReportView]:
        """Authenticated courier reports naming a shipment we do not know, newest first."""
        async with service.db.transaction() as session:
            rows = await shipments.unmatched_reports(session, limit)
        return [_report(r) for r in rows]

    return api
