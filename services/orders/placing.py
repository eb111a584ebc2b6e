"""Placing and cancelling an order: the one use case both the JSON API and the site's pages
call, so a rule cannot hold on one and not the other.

Each outcome that is the user's to fix is an exception the caller turns into its own kind of
answer (a problem document, or an error on the page).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain import emails
from services.orders.domain.order import Status, check_locations, new_reference
from services.orders.domain.own_address import (
    EarlierOrder,
    EarlierOrderWaiting,
    badges_sent,
    check_order_shape,
    is_top_up,
    one_order_only,
)
from services.orders.domain.placed import awaiting_delivery, delivery_to_site
from services.orders.store import accounts, awaiting, privacy, repository
from services.orders.store.tables import email_outbox
from shared import tracing
from shared.email import queue_email
from shared.events import (
    AccountKind,
    Delivery,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
    OrderPlacedForReporting,
)
from shared.events.reporting import organisation_type, organisation_type_of_order
from shared.http.auth import Principal
from shared.runtime import Service

#: Before the parcels are with the courier an order can still be cancelled.
CANCELLABLE = frozenset({Status.PLACED, Status.WAITLISTED, Status.IN_REVIEW, Status.VERIFIED})


class AccountNotReady(Exception):
    """Orders has not yet heard identity's AccountRegistered for the account (seconds)."""


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
    top_up: bool = False


@dataclass(frozen=True)
class Built:
    """An order worked out from the account's details, ready to store."""

    lines: list[tuple[str | None, int]]
    #: None while the register's details of the delivery location are still on their way.
    delivery: Delivery | None
    top_up: bool = False
    region: str = ""
    local_authority: str = ""
    #: What reporting counts the order under (shared/events/reporting.py).
    organisation_type: str = ""


async def place_order(
    service: Service,
    principal: Principal,
    contact_name: str,
    correlation_id: str,
    *,
    lines: list[tuple[str, int]] | None = None,
    deliver_to: str | None = None,
    staff_count: int | None = None,
    notify_email: str | None = None,
) -> Placed:
    """Store the order, its OrderPlaced event and its confirmation email in one transaction.

    A CQC provider gives ``lines`` and ``deliver_to``; any other account gives
    ``staff_count`` and its badges go to the address it registered. The email goes to
    ``notify_email``, or else to the address identity registered the account with, so an
    order placed through the API is confirmed too.

    The signed token says which locations the caller may order for, so a CQC order is taken
    even before identity's events about the account have reached orders: it is numbered now,
    and its OrderPlaced (or confirmation email) follows when they arrive (ADR 0061).

    Raises OrderRefused, OrderingHeld, AccountNotReady, repository.LocationAlreadyOrdered,
    accounts.OrganisationAlreadyOrdered or own_address.EarlierOrderWaiting.
    """
    check_order_shape(
        principal.kind,
        lines_given=bool(lines),
        deliver_to_given=bool(deliver_to),
        staff_count=staff_count,
    )
    order_id = uuid.uuid4()
    tracing.follow_order(order_id)
    reference = new_reference()
    placed_at = datetime.now(UTC)
    async with service.db.transaction() as session:
        await awaiting.lock_for_placing(session, principal.account_id)
        await _refuse_if_held(session, principal.account_id)
        if staff_count is not None:
            built = await _own_address_order(session, principal, staff_count, contact_name)
        else:
            assert lines is not None and deliver_to is not None  # check_order_shape
            built = await _cqc_order(session, principal, lines, deliver_to, contact_name)
        quantity = sum(count for _, count in built.lines)
        notify_email = notify_email or await accounts.registered_email(
            session, principal.account_id
        )
        seq = await repository.insert_order(
            session,
            order_id=order_id,
            reference=reference,
            account_id=principal.account_id,
            account_kind=principal.kind,
            quantity=quantity,
            delivery=(
                built.delivery.model_dump()
                if built.delivery
                else awaiting_delivery(contact_name, str(deliver_to))
            ),
            lines=built.lines,
            placed_at=placed_at,
            notify_email=notify_email,
            top_up=built.top_up,
        )
        if one_order_only(principal.kind):
            await accounts.claim_organisation(session, principal.account_id, order_id)
        if notify_email:
            reviewed = principal.kind != AccountKind.CQC
            await queue_email(
                session,
                email_outbox,
                emails.order_placed(notify_email, reference, quantity, reviewed, built.top_up),
            )
        if built.delivery is None or not notify_email:
            await awaiting.wait_for_details(
                session,
                order_id,
                principal.account_id,
                deliver_to=None if built.delivery else deliver_to,
                email_owed=not notify_email,
                correlation_id=correlation_id,
            )
        if built.delivery is not None:
            placed = OrderPlaced(
                order_id=order_id,
                reference=reference,
                account_id=principal.account_id,
                account_kind=AccountKind(principal.kind),
                placed_at=placed_at,
                placement_seq=seq,
                lines=[OrderLine(location_id=loc, staff_count=n) for loc, n in built.lines],
                quantity=quantity,
                delivery=built.delivery,
                top_up=built.top_up,
                region=built.region,
                local_authority=built.local_authority,
            )
            # Reporting's first: the relay publishes in this order, so the figures usually hear
            # of the order before verification's decision about it.
            await service.emit(
                session,
                OrderPlacedForReporting.of(placed, built.organisation_type),
                correlation_id,
            )
            await service.emit(session, placed, correlation_id)
    return Placed(order_id, reference, quantity, built.top_up)


async def _cqc_order(
    session: AsyncSession,
    principal: Principal,
    lines: list[tuple[str, int]],
    deliver_to: str,
    contact_name: str,
) -> Built:
    """Lines for the caller's CQC locations (the token authorises them), delivered to one of
    them as the register says; no delivery yet if its details have not reached orders."""
    requested = [location for location, _ in lines]
    check_locations(requested, principal.locations, deliver_to)
    known = await repository.authorised_location_details(session, principal.account_id)
    site = known.get(deliver_to)
    if site is None:
        return Built(list(lines), None)
    return Built(
        list(lines),
        delivery_to_site(site, contact_name, deliver_to),
        region=site.get("region", ""),
        local_authority=site.get("local_authority", ""),
        organisation_type=organisation_type_of_order(
            AccountKind(principal.kind), list(lines), known
        ),
    )


async def _own_address_order(
    session: AsyncSession, principal: Principal, staff_count: int, contact_name: str
) -> Built:
    """One line with no location, delivered to the address the account registered.

    The registration row stays locked until the order commits, so an account's orders are
    placed one at a time (two top-ups cannot both find no order waiting).
    """
    registered = await accounts.lock_registration(session, principal.account_id)
    if not ready_to_order(registered):
        raise AccountNotReady
    assert registered is not None
    earlier = await accounts.earlier_orders(session, principal.account_id)
    top_up = is_top_up(principal.kind, earlier)
    delivery = Delivery(
        recipient_name=contact_name,
        organisation_name=registered["organisation_name"],
        address_line_1=registered["address_line_1"],
        address_line_2=registered["address_line_2"] or "",
        city=registered["city"] or "",
        postcode=registered["postcode"],
    )
    kind = AccountKind(principal.kind)
    return Built(
        [(None, staff_count)],
        delivery,
        top_up=top_up,
        organisation_type=organisation_type(kind, []),
    )


def ready_to_order(registered: dict[str, Any] | None) -> bool:
    """Orders has heard the account's registration, with the address its badges go to."""
    return bool(
        registered
        and registered["kind"]
        and registered["organisation_name"]
        and registered["address_line_1"]
        and registered["postcode"]
    )


async def _refuse_if_held(session: AsyncSession, account_id: uuid.UUID) -> None:
    """Read after the account's lock, so a restriction whose handler has committed is seen,
    and one being applied waits for this order (ADR 0061)."""
    closed, reason = await awaiting.ordering_hold(session, account_id)
    if closed:
        raise PORTAL_CLOSED
    if reason in HELD_FOR:
        raise OrderingHeld(*HELD_FOR[reason])


async def cancel_order(
    service: Service, principal: Principal, order_id: uuid.UUID, correlation_id: str
) -> None:
    """Cancel one of the caller's orders before dispatch; its locations (or, for an account
    not on CQC's register, the account) may order again.

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
        await accounts.release_organisation(session, order_id)
        await service.emit(session, OrderCancelled(order_id=order_id), correlation_id)


@dataclass(frozen=True)
class OwnAddressPlan:
    """What the site's pages need before an account not on CQC's register orders: where the
    badges go, and whether this order is its first, a top-up, or one it cannot place."""

    #: The account's registered organisation and address; None until orders has heard it.
    registered: dict[str, Any] | None
    #: An account that may order once already has an order.
    already_ordered: bool = False
    #: A local authority's earlier order that has not been sent yet.
    waiting: EarlierOrder | None = None
    top_up: bool = False
    #: Badges already sent to the account (what a top-up adds to).
    badges_sent: int = 0


async def own_address_plan(service: Service, principal: Principal) -> OwnAddressPlan:
    """The account's next order as the pages will present it (placing checks it all again)."""
    async with service.db.transaction() as session:
        registered = await accounts.registration(session, principal.account_id)
        if not ready_to_order(registered):
            return OwnAddressPlan(None)
        earlier = await accounts.earlier_orders(session, principal.account_id)
        claimed = await accounts.has_claim(session, principal.account_id)
    if one_order_only(principal.kind):
        return OwnAddressPlan(registered, already_ordered=claimed)
    try:
        top_up = is_top_up(principal.kind, earlier)
    except EarlierOrderWaiting as waiting:
        found = next(o for o in earlier if o.reference == waiting.reference)
        return OwnAddressPlan(registered, waiting=found, badges_sent=badges_sent(earlier))
    return OwnAddressPlan(registered, top_up=top_up, badges_sent=badges_sent(earlier))
