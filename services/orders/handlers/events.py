"""Orders' event handlers: each runs inside the consumer's transaction, after the inbox claim,
and hands the event to its use case (:mod:`services.orders.usecases`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain.order import Status
from services.orders.usecases import accounts, progress
from shared.events import (
    DeliveryAddressChanged,
    Envelope,
    EventPayload,
    LocationsAuthorised,
    OrderDelivered,
    OrderDispatched,
    OrderReferred,
    OrderRejected,
    OrderVerified,
    StockWaitlisted,
)
from shared.runtime import Service


class Step(NamedTuple):
    """What an event means for the order's timeline."""

    status: Status
    meaning: str
    #: What the user is shown beside the step (a reviewer's reason, the shipment).
    detail: Callable[[Any], str] = lambda _: ""


TIMELINE: dict[type[EventPayload], Step] = {
    StockWaitlisted: Step(Status.WAITLISTED, "Stock ran out first: the order waits its turn."),
    OrderReferred: Step(Status.IN_REVIEW, "A person will review the order."),
    OrderVerified: Step(Status.VERIFIED, "The order passed its checks."),
    OrderRejected: Step(
        Status.REJECTED, "A reviewer refused the order; the user sees why.", lambda p: p.reason
    ),
    OrderDelivered: Step(Status.DELIVERED, "The courier reports the parcels delivered."),
}


def _timeline_handler(step: Step) -> Callable[[AsyncSession, Envelope[Any]], Awaitable[None]]:
    async def handle(session: AsyncSession, event: Envelope[Any]) -> None:
        await progress.record_step(
            session,
            event.payload.order_id,
            step.status,
            event.occurred_at,
            step.detail(event.payload),
        )

    handle.__doc__ = f"{step.meaning} The status only ever moves forward."
    return handle


def register(service: Service) -> None:
    """Subscribe orders' handlers on ``service``."""

    @service.handles(LocationsAuthorised)
    async def locations_authorised(
        session: AsyncSession, event: Envelope[LocationsAuthorised]
    ) -> None:
        """Keep the register details of each location an account may order for, and send
        on the orders that were waiting for them."""
        await accounts.locations_authorised(service, session, event.payload)

    for event_type, step in TIMELINE.items():
        service.handles(event_type)(_timeline_handler(step))

    @service.handles(OrderDispatched)
    async def dispatched(session: AsyncSession, event: Envelope[OrderDispatched]) -> None:
        """The parcels are with the courier: a timeline step, and the email with the poster
        (sent once: the inbox runs this once per event)."""
        payload = event.payload
        await progress.dispatched(
            session, payload.order_id, payload.shipment_reference, event.occurred_at
        )

    @service.handles(DeliveryAddressChanged)
    async def address_changed(
        session: AsyncSession, event: Envelope[DeliveryAddressChanged]
    ) -> None:
        """Customer services corrected the delivery address (FAQ 13)."""
        await progress.delivery_changed(session, event.payload.order_id, event.payload.delivery)
