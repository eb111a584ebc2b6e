"""Placing and cancelling an order: the one use case both the JSON API and the site's pages
call, so a rule cannot hold on one and not the other.

Each outcome that is the user's to fix is an exception the caller turns into its own kind of
answer (a problem document, or an error on the page).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain import emails
from services.orders.domain.order import Status, check_locations, new_reference
from services.orders.store import privacy, repository
from services.orders.store.tables import email_outbox
from shared.email import queue_email
from shared.events import AccountKind, Delivery, OrderCancelled, OrderLine, OrderPlaced
from shared.http.auth import Principal
from shared.runtime import Service

#: Before the parcels are with the courier an order can still be cancelled.
CANCELLABLE = frozenset({Status.PLACED, Status.WAITLISTED, Status.IN_REVIEW, Status.VERIFIED})


class LocationsNotReady(Exception):
    """Orders has not yet heard from identity about the account's locations (seconds)."""


class OrderingHeld(Exception):
    """No new order may use this account's data: the portal has closed, or the holder has
    restricted its use, or the account was anonymised (privacy policy)."""

    def __init__(self, code: str, title: str, detail: str) -> None:
        super().__init__(title)
        self.code, self.title, self.detail = code, title, detail


PORTAL_CLOSED = OrderingHeld(
    "portal-closed",
    "The CARE badges portal has closed",
    "Badges can no longer be ordered. Orders already placed are shown on your account.",
)
HELD_FOR = {
    privacy.RESTRICTED: (
        "account-restricted",
        "You have restricted the use of your data",
        "We keep your data but do not use it while the restriction is in place, so no order "
        "can be placed. Lift the restriction from your account, or ask customer services to, "
        "and then place your order.",
    ),
    privacy.ANONYMISED: (
        "account-anonymised",
        "This account has been closed",
        "The account was disabled and its details removed at its holder's request.",
    ),
}


class NotYours(Exception):
    """No such order on the caller's account (another account's is answered the same)."""


class TooLateToCancel(Exception):
    """The order is already with the courier, delivered, rejected or cancelled."""


@dataclass(frozen=True)
class Placed:
    order_id: uuid.UUID
    reference: str
    quantity: int


async def place_order(
    service: Service,
    principal: Principal,
    lines: list[tuple[str, int]],
    deliver_to: str,
    contact_name: str,
    correlation_id: str,
    notify_email: str | None = None,
) -> Placed:
    """Store the order, its OrderPlaced event and its confirmation email in one transaction.

    Raises OrderRefused, OrderingHeld, LocationsNotReady or
    repository.LocationAlreadyOrdered.
    """
    requested = [location for location, _ in lines]
    check_locations(requested, principal.locations, deliver_to)
    order_id = uuid.uuid4()
    reference = new_reference()
    quantity = sum(count for _, count in lines)
    placed_at = datetime.now(UTC)
    async with service.db.transaction() as session:
        await _refuse_if_held(session, principal.account_id)
        known = await repository.authorised_location_details(session, principal.account_id)
        if any(location not in known for location in requested):
            raise LocationsNotReady
        site = known[deliver_to]
        delivery = Delivery(
            recipient_name=contact_name,
            organisation_name=site["name"],
            address_line_1=site["address_line_1"],
            address_line_2=site.get("address_line_2", ""),
            city=site.get("city", ""),
            postcode=site["postcode"],
            location_id=deliver_to,
        )
        seq = await repository.insert_order(
            session,
            order_id=order_id,
            reference=reference,
            account_id=principal.account_id,
            account_kind=principal.kind,
            quantity=quantity,
            delivery=delivery.model_dump(),
            lines=lines,
            placed_at=placed_at,
            notify_email=notify_email,
        )
        if notify_email:
            reviewed = principal.kind != AccountKind.CQC
            await queue_email(
                session,
                email_outbox,
                emails.order_placed(notify_email, reference, quantity, reviewed),
            )
        await service.emit(
            session,
            OrderPlaced(
                order_id=order_id,
                reference=reference,
                account_id=principal.account_id,
                account_kind=AccountKind(principal.kind),
                placed_at=placed_at,
                placement_seq=seq,
                lines=[OrderLine(location_id=loc, staff_count=n) for loc, n in lines],
                quantity=quantity,
                delivery=delivery,
                region=site.get("region", ""),
                local_authority=site.get("local_authority", ""),
            ),
            correlation_id,
        )
    return Placed(order_id, reference, quantity)


async def _refuse_if_held(session: AsyncSession, account_id: uuid.UUID) -> None:
    if await privacy.portal_closed(session):
        raise PORTAL_CLOSED
    reason = await privacy.hold_on(session, account_id)
    if reason in HELD_FOR:
        raise OrderingHeld(*HELD_FOR[reason])


async def cancel_order(
    service: Service, principal: Principal, order_id: uuid.UUID, correlation_id: str
) -> None:
    """Cancel one of the caller's orders before dispatch; its locations may be ordered again.

    Raises NotYours or TooLateToCancel.
    """
    async with service.db.transaction() as session:
        status = await repository.lock_status(session, order_id, principal.account_id)
        if status is None:
            raise NotYours
        if status not in CANCELLABLE:
            raise TooLateToCancel
        await repository.record_status(session, order_id, Status.CANCELLED, datetime.now(UTC))
        await repository.release_locations(session, order_id)
        await service.emit(session, OrderCancelled(order_id=order_id), correlation_id)
