"""Finishing orders that were taken before identity's events about the account arrived
(ADR 0061): the account's locations give the delivery its address, and OrderPlaced goes out;
its registration gives the confirmation email its address.

Each runs inside the use case that took the account's lock (:mod:`.accounts`), in the
handler's transaction, so an order placed at the same moment is either seen here or saw the
saved details itself. Saving the details and filling in the orders that waited for them is one
statement; only when some order waited does a second follow (its events, or its emails).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain import emails
from services.orders.domain.order import Status
from services.orders.domain.placed import delivery_to_site, order_placed
from services.orders.store import accounts, repository
from services.orders.store.tables import email_outbox
from shared.email import queue_emails
from shared.events import AccountKind, Delivery, EventPayload, OrderPlacedForReporting
from shared.events.reporting import organisation_type_of_order
from shared.runtime import Service


async def deliveries_known(
    service: Service,
    session: AsyncSession,
    account_id: UUID,
    known: dict[str, dict[str, Any]],
    *,
    refresh: bool = True,
) -> None:
    """Keep the register details of the account's locations (``known``, by id); address the
    orders waiting for one of them and announce them, with the placement number they were
    given when they were taken. ``refresh`` False keeps details already held."""
    # Each location's delivery but its recipient: the statement keeps the one the order names
    # now (the recipient may have been changed while it waited).
    deliveries = {loc: delivery_to_site(site, "", loc).model_dump() for loc, site in known.items()}
    events: list[tuple[EventPayload, str]] = []
    addressed = await repository.authorise_locations(
        session, account_id, known, deliveries, refresh=refresh
    )
    for order in addressed:
        if order["status"] == Status.CANCELLED:
            continue
        site = known[order["deliver_to"]]
        # The location's address, or the one customer services gave it meanwhile.
        placed = order_placed(order, Delivery.model_validate(order["delivery"]), site)
        lines = [(line.location_id, line.staff_count) for line in placed.lines]
        org_type = organisation_type_of_order(placed.account_kind, lines, known)
        events.append((OrderPlacedForReporting.of(placed, org_type), order["correlation_id"]))
        events.append((placed, order["correlation_id"]))
    for event, correlation_id in events:
        await service.emit(session, event, correlation_id)


async def email_known(session: AsyncSession, account_id: UUID, registered: dict[str, Any]) -> None:
    """Keep the account's registration (``accounts.REGISTERED``), and confirm the orders taken
    before it arrived to the address it gives."""
    confirmed = await accounts.save_registration(session, account_id, registered)
    await queue_emails(
        session,
        email_outbox,
        [
            emails.order_placed(
                registered["email"],
                order["reference"],
                order["quantity"],
                order["account_kind"] != AccountKind.CQC,
                order["top_up"],
            )
            for order in confirmed
            if order["status"] != Status.CANCELLED
        ],
    )
