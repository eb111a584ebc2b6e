"""Finishing orders that were taken before identity's events about the account arrived
(ADR 0061): the account's locations give the delivery its address, and OrderPlaced goes out;
its registration gives the confirmation email its address.

Each runs inside the use case that saved what it needs (:mod:`.accounts`), in the handler's
transaction after the account's lock, so an order placed at the same moment is either seen here
or saw the saved details itself.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain import emails
from services.orders.domain.order import Status
from services.orders.domain.placed import delivery_to_site, order_placed
from services.orders.store import awaiting, privacy, repository
from services.orders.store.tables import email_outbox
from shared.email import queue_email
from shared.events import AccountKind, Delivery, OrderPlacedForReporting
from shared.events.reporting import organisation_type_of_order
from shared.runtime import Service


async def deliveries_known(
    service: Service, session: AsyncSession, account_id: UUID, known: dict[str, dict[str, Any]]
) -> None:
    """Orders waiting for a location whose details just arrived: address them and announce
    them, with the placement number they were given when they were taken."""
    for waiting in await awaiting.waiting_for_delivery(session, account_id):
        site = known.get(waiting["deliver_to"])
        if site is None:
            continue
        # Locked before it is read: a correction from customer services committing meanwhile
        # is then either seen here, or waits for this transaction and overwrites it after.
        await repository.lock_order(session, waiting["order_id"])
        order = await repository.get_order(session, waiting["order_id"])
        assert order is not None  # the row cascades with its order
        if order["delivery"].get("awaiting"):
            delivery = delivery_to_site(
                site, order["delivery"]["recipient_name"], waiting["deliver_to"]
            )
            await privacy.set_delivery(session, order["id"], delivery.model_dump())
        else:  # customer services already gave it an address: that one stands
            delivery = Delivery.model_validate(order["delivery"])
        if order["status"] != Status.CANCELLED:
            placed = order_placed(order, delivery, site)
            lines = [(line.location_id, line.staff_count) for line in placed.lines]
            org_type = organisation_type_of_order(placed.account_kind, lines, known)
            await service.emit(
                session,
                OrderPlacedForReporting.of(placed, org_type),
                waiting["correlation_id"],
            )
            await service.emit(session, placed, waiting["correlation_id"])
        await awaiting.settle(session, order["id"], deliver_to=None)


async def email_known(session: AsyncSession, account_id: UUID, email: str) -> None:
    """Orders taken before the account's registration arrived: confirm them now."""
    for waiting in await awaiting.waiting_for_email(session, account_id):
        order = await repository.get_order(session, waiting["order_id"])
        assert order is not None
        await repository.set_notify_email(session, order["id"], email)
        if order["status"] != Status.CANCELLED:
            reviewed = order["account_kind"] != AccountKind.CQC
            await queue_email(
                session,
                email_outbox,
                emails.order_placed(
                    email, order["reference"], order["quantity"], reviewed, order["top_up"]
                ),
            )
        await awaiting.settle(session, order["id"], email_owed=False)
