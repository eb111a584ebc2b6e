"""Dispatch's event handlers: each runs inside the consumer's transaction, after the inbox claim.

The inbox absorbs exact redeliveries; the state machine absorbs the rest (the same fact sent
twice, facts in any order), so every handler here is safe to run again.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.usecases.addresses import change_address
from services.dispatch.usecases.orders import Orders
from services.dispatch.usecases.placements import Placements
from services.dispatch.usecases.privacy import Privacy
from shared.events import (
    AccountAnonymised,
    DeliveryAddressChanged,
    DeliveryAddressChangeRefused,
    Envelope,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    OrderVerified,
)
from shared.runtime import Service


def register(service: Service, placement_recorded: Callable[[], None] | None = None) -> None:
    """Subscribe dispatch's handlers on ``service``; ``placement_recorded`` is called after
    each committed placement (it wakes the allocator)."""
    placements = Placements(service, placement_waker=placement_recorded)
    orders = Orders(service)
    privacy = Privacy(service)

    @service.handles(OrderPlaced)
    async def placed(session: AsyncSession, event: Envelope[OrderPlaced]) -> None:
        """Record the order; the allocator reserves stock or waitlists it, by placement."""
        await placements.order_placed(session, event.payload, event.correlation_id)

    @service.handles(OrderVerified)
    async def verified(session: AsyncSession, event: Envelope[OrderVerified]) -> None:
        """A verified order holding stock is allocated and handed to the courier."""
        await orders.order_verified(session, event.payload.order_id, event.correlation_id)

    @service.handles(OrderRejected)
    async def rejected(session: AsyncSession, event: Envelope[OrderRejected]) -> None:
        """A refused order gives its stock back to the waitlist."""
        await orders.order_closed(session, event.payload.order_id, event.correlation_id)

    @service.handles(OrderCancelled)
    async def cancelled(session: AsyncSession, event: Envelope[OrderCancelled]) -> None:
        """A cancelled order gives its stock back to the waitlist."""
        await orders.order_closed(session, event.payload.order_id, event.correlation_id)

    @service.handles(DeliveryAddressChanged)
    async def address_changed(
        session: AsyncSession, event: Envelope[DeliveryAddressChanged]
    ) -> None:
        """Customer services corrected where the parcel goes: used unless it has left."""
        # Refused, the person who made the change hears why (DeliveryAddressChangeRefused).
        change = event.payload
        outcome = await change_address(session, change.order_id, change.delivery)
        if not outcome.used:
            refusal = DeliveryAddressChangeRefused(
                order_id=change.order_id,
                changed_by=change.changed_by,
                reason=outcome.reason,
                shipment_reference=outcome.shipment_reference,
            )
            await service.emit(session, refusal, event.correlation_id)

    @service.handles(AccountAnonymised)
    async def anonymised(session: AsyncSession, event: Envelope[AccountAnonymised]) -> None:
        """Orders not yet handed over lose their personal data and their claim on stock."""
        await privacy.account_anonymised(session, event.payload.account_id, event.correlation_id)
