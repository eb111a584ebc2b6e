"""What came back after a decision and needs a person: a returned parcel, an address
correction dispatch could not use. Raised from events, dealt with by a reviewer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.store import audit, backoffice
from services.verification.usecases.reviewers import Reviewer, acting
from shared.events import DeliveryAddressChangeRefused, ParcelReturned
from shared.runtime import Service
from shared.usecases import Conflict, NotFound


async def parcel_returned(session: AsyncSession, returned: ParcelReturned) -> None:
    """The courier brought the parcels back: customer services decide what happens next."""
    await backoffice.raise_follow_up(
        session,
        returned.order_id,
        "parcel_returned",
        f"The courier returned shipment {returned.shipment_reference} "
        f"({returned.parcel_count} parcels, {returned.quantity} badges) undelivered: contact "
        "the organisation, correct the address if needed, and arrange what happens next.",
        returned.returned_at,
    )


async def address_change_refused(
    session: AsyncSession, refused: DeliveryAddressChangeRefused, at: datetime
) -> None:
    """Dispatch could not use a corrected address: tell the person who changed it."""
    await backoffice.raise_follow_up(
        session,
        refused.order_id,
        "address_change_refused",
        f"The address correction was not used: {refused.reason}",
        at,
        raised_for=str(refused.changed_by),
    )


async def open_follow_ups(service: Service) -> list[dict[str, Any]]:
    """Follow-ups no one has dealt with yet, oldest first."""
    async with service.db.transaction() as session:
        return await backoffice.open_follow_ups(session)


async def resolve_follow_up(service: Service, follow_up_id: int, reviewer: Reviewer) -> None:
    """Mark a follow-up dealt with, once: the second reviewer is told who did it."""
    async with acting(service, reviewer) as session:
        item = await backoffice.lock_follow_up(session, follow_up_id)
        if item is None:
            raise NotFound("follow-up-not-found", "There is no such follow-up.", title="Not found")
        if item["resolved_at"] is not None:
            raise Conflict(
                "already-resolved",
                f"It was marked dealt with by {item['resolved_by']}.",
                title="This was already dealt with",
            )
        await backoffice.resolve_follow_up(session, follow_up_id, str(reviewer.account_id))
        await audit.record(
            session,
            actor=str(reviewer.account_id),
            action="follow_up_resolved",
            order_id=item["order_id"],
            before={"follow_up": follow_up_id, "kind": item["kind"], "resolved": False},
            after={"follow_up": follow_up_id, "kind": item["kind"], "resolved": True},
        )
