"""Orders' event handlers: each runs inside the consumer's transaction, after the inbox claim."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain.order import Status
from services.orders.store import repository
from services.orders.store.tables import authorised_locations, order_lines, orders
from shared.events import (
    AccountAnonymised,
    DeliveryAddressChanged,
    Envelope,
    LocationsAuthorised,
    OrderDelivered,
    OrderDispatched,
    OrderReferred,
    OrderRejected,
    OrderVerified,
    StockWaitlisted,
    SubjectAccessRequested,
    SubjectDataProvided,
)
from shared.logging import get_logger
from shared.runtime import Service

log = get_logger(__name__)

ANONYMISED = "[anonymised]"


def register(service: Service) -> None:
    """Subscribe orders' handlers on ``service``."""

    @service.handles(LocationsAuthorised)
    async def locations_authorised(
        session: AsyncSession, event: Envelope[LocationsAuthorised]
    ) -> None:
        """Keep the register details of each location an account may order for."""
        await repository.save_authorised_locations(
            session,
            event.payload.account_id,
            [loc.model_dump() for loc in event.payload.locations],
        )

    async def step(
        session: AsyncSession, event: Envelope[Any], status: Status, detail: str = ""
    ) -> None:
        known = await repository.record_status(
            session, event.payload.order_id, status, event.occurred_at, detail
        )
        if not known:
            log.warning("status event for an unknown order", status=status)

    @service.handles(OrderVerified)
    async def verified(session: AsyncSession, event: Envelope[OrderVerified]) -> None:
        """The order passed its checks (automatically or by a reviewer)."""
        await step(session, event, Status.VERIFIED)

    @service.handles(OrderReferred)
    async def referred(session: AsyncSession, event: Envelope[OrderReferred]) -> None:
        """A person will review the order; the user sees it is being reviewed."""
        await step(session, event, Status.IN_REVIEW)

    @service.handles(OrderRejected)
    async def rejected(session: AsyncSession, event: Envelope[OrderRejected]) -> None:
        """A reviewer refused the order; the reason is shown to the user."""
        await step(session, event, Status.REJECTED, event.payload.reason)

    @service.handles(StockWaitlisted)
    async def waitlisted(session: AsyncSession, event: Envelope[StockWaitlisted]) -> None:
        """Stock ran out before this order: it waits its turn for the next delivery."""
        await step(session, event, Status.WAITLISTED)

    @service.handles(OrderDispatched)
    async def dispatched(session: AsyncSession, event: Envelope[OrderDispatched]) -> None:
        """The parcels are with the courier."""
        await step(session, event, Status.DISPATCHED, event.payload.shipment_reference)

    @service.handles(OrderDelivered)
    async def delivered(session: AsyncSession, event: Envelope[OrderDelivered]) -> None:
        """The courier reports the parcels delivered."""
        await step(session, event, Status.DELIVERED)

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

    @service.handles(AccountAnonymised)
    async def anonymised(session: AsyncSession, event: Envelope[AccountAnonymised]) -> None:
        """Scrub the account's personal data: contact name and delivery address."""
        account_id = event.payload.account_id
        await session.execute(
            update(orders)
            .where(orders.c.account_id == account_id)
            .values(delivery={"recipient_name": ANONYMISED, "anonymised": True})
        )
        await session.execute(
            delete(authorised_locations).where(authorised_locations.c.account_id == account_id)
        )

    @service.handles(SubjectAccessRequested)
    async def subject_access(
        session: AsyncSession, event: Envelope[SubjectAccessRequested]
    ) -> None:
        """Contribute everything orders holds about the account to its copy of its data."""
        account_id = event.payload.account_id
        rows = await session.execute(select(orders).where(orders.c.account_id == account_id))
        held: list[dict[str, Any]] = []
        for row in rows:
            lines = await session.execute(
                select(order_lines.c.location_id, order_lines.c.staff_count).where(
                    order_lines.c.order_id == row.id
                )
            )
            held.append(
                {
                    "reference": row.reference,
                    "status": row.status,
                    "quantity": row.quantity,
                    "placed_at": row.placed_at.isoformat(),
                    "delivery": row.delivery,
                    "lines": [dict(line._mapping) for line in lines],
                }
            )
        await service.emit(
            session,
            SubjectDataProvided(
                request_id=event.payload.request_id,
                account_id=account_id,
                service=service.name,
                data={"orders": held},
            ),
            event.correlation_id,
        )
