"""Orders' event handlers: each runs inside the consumer's transaction, after the inbox claim."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain import emails
from services.orders.domain.order import Status
from services.orders.handlers import awaiting as awaiting_orders
from services.orders.store import awaiting, repository
from services.orders.store.tables import email_outbox, orders
from shared.email import queue_email
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
from shared.logging import get_logger
from shared.runtime import Service

log = get_logger(__name__)


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
        known = await repository.record_status(
            session,
            event.payload.order_id,
            step.status,
            event.occurred_at,
            step.detail(event.payload),
        )
        if not known:
            log.warning("status event for an unknown order", status=step.status.value)

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
        account_id = event.payload.account_id
        await awaiting.lock_for_change(session, account_id)
        details = [loc.model_dump() for loc in event.payload.locations]
        await repository.save_authorised_locations(session, account_id, details)
        known = {loc["location_id"]: loc for loc in details}
        await awaiting_orders.deliveries_known(service, session, account_id, known)

    for event_type, step in TIMELINE.items():
        service.handles(event_type)(_timeline_handler(step))

    @service.handles(OrderDispatched)
    async def dispatched(session: AsyncSession, event: Envelope[OrderDispatched]) -> None:
        """The parcels are with the courier: a timeline step, and the email with the poster
        (sent once: the inbox runs this once per event)."""
        order_id = event.payload.order_id
        shipment = event.payload.shipment_reference
        row = await repository.record_status(
            session, order_id, Status.DISPATCHED, event.occurred_at, shipment
        )
        if row is None:
            log.warning("status event for an unknown order", status=Status.DISPATCHED.value)
            return
        if row.notify_email:
            await queue_email(
                session,
                email_outbox,
                emails.order_dispatched(row.notify_email, row.reference, shipment),
            )

    @service.handles(DeliveryAddressChanged)
    async def address_changed(
        session: AsyncSession, event: Envelope[DeliveryAddressChanged]
    ) -> None:
        """Customer services corrected the delivery address (FAQ 13)."""
        await session.execute(
            update(orders)
            .where(orders.c.id == event.payload.order_id)
            .values(delivery=event.payload.delivery.model_dump())
        )
