"""The courier's reports on shipments: delivered, a failed attempt, returned.

Every fresh authenticated report is kept, whether or not it names a shipment we know, so a
replayed or unmatched one comes back as an outcome rather than a refusal: raised, it would
roll back the transaction that keeps it for investigation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.shipment import FINAL, ShipmentStatus, next_status
from services.dispatch.store import orders, privacy, shipments
from services.dispatch.usecases.fulfilment import Fulfilment
from shared.events import OrderDelivered, ParcelReturned
from shared.logging import get_logger
from shared.runtime import Service

log = get_logger(__name__)


class CallbackOutcome(StrEnum):
    APPLIED = "applied"
    REPLAY = "replay"
    UNKNOWN_SHIPMENT = "unknown_shipment"


@dataclass(frozen=True)
class CallbackResult:
    outcome: CallbackOutcome
    #: The shipment's status after the report (None unless applied).
    status: ShipmentStatus | None = None


class CourierReports:
    """The courier's reports, applied to shipments over one service's database and outbox."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.fulfilment = Fulfilment(service)

    async def apply_report(
        self,
        session: AsyncSession,
        *,
        signature_digest: str,
        shipment_reference: str,
        status: ShipmentStatus,
        occurred_at: datetime,
        correlation_id: str,
    ) -> CallbackResult:
        """Apply one authenticated courier report; every fresh one is kept, known or not.

        The order row is locked before the shipment's, as the lock order says (store/): a
        final report for an anonymised account rewrites the order's delivery. A shipment
        never changes order, so finding it first without a lock is safe.
        """
        found = await shipments.get_shipment(session, shipment_reference)
        order = await orders.lock_order(session, found.order_id) if found else None
        shipment = await shipments.lock_shipment(session, shipment_reference)
        fresh = await shipments.record_callback(
            session,
            signature_digest=signature_digest,
            shipment_reference=shipment_reference,
            status=status,
            known=shipment is not None,
            body={
                "shipment_reference": shipment_reference,
                "status": status,
                "occurred_at": occurred_at.isoformat(),
            },
        )
        if not fresh:
            return CallbackResult(CallbackOutcome.REPLAY)
        if shipment is None:
            return CallbackResult(CallbackOutcome.UNKNOWN_SHIPMENT)
        after = next_status(shipment.status, status)
        if after is not shipment.status:
            await shipments.set_shipment_status(session, shipment_reference, after)
            if after in FINAL and order and await privacy.is_anonymised(session, order.account_id):
                await self.fulfilment.forget_delivery(session, shipment)
            if after is ShipmentStatus.DELIVERED:
                await self.service.emit(
                    session,
                    OrderDelivered(
                        order_id=shipment.order_id,
                        shipment_reference=shipment_reference,
                        delivered_at=occurred_at,
                    ),
                    correlation_id,
                )
            elif after is ShipmentStatus.RETURNED:
                # Customer services decide what happens next: a corrected address, a re-send,
                # or nothing; the badges count as stock again only when operations count them.
                log.warning("parcels returned by the courier", order_id=str(shipment.order_id))
                await self.service.emit(
                    session,
                    ParcelReturned(
                        order_id=shipment.order_id,
                        shipment_reference=shipment_reference,
                        returned_at=occurred_at,
                        parcel_count=len(shipment.parcels),
                        quantity=sum(int(p["badges"]) for p in shipment.parcels),
                    ),
                    correlation_id,
                )
        return CallbackResult(CallbackOutcome.APPLIED, after)
