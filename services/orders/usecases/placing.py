"""Placing an order: the one use case both the JSON API and the site's pages call, so a rule
cannot hold on one and not the other.

Each outcome that is the user's to fix is a refusal (:mod:`shared.usecases`) the caller turns
into its own kind of answer (a problem document, or an error on the page).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain import emails
from services.orders.domain.order import check_locations, new_reference
from services.orders.domain.own_address import check_order_shape, is_top_up, one_order_only
from services.orders.domain.placed import awaiting_delivery, delivery_to_site
from services.orders.store import accounts, awaiting, privacy, repository
from shared import tracing
from shared.events import (
    AccountKind,
    Delivery,
    OrderLine,
    OrderPlaced,
    OrderPlacedForReporting,
)
from shared.events.reporting import organisation_type, organisation_type_of_order
from shared.http.auth import Principal
from shared.runtime import Service
from shared.store.errors import again_after_conflicts
from shared.usecases import Conflict, NotAllowed


class AccountNotReady(Conflict):
    """Orders has not yet heard identity's AccountRegistered for the account (seconds)."""

    def __init__(self) -> None:
        super().__init__(
            "account-not-ready",
            "We are still loading your organisation's details. Try again in a few seconds.",
            title="Your account is still being set up",
            retry_after=2,
        )


class OrderingHeld(NotAllowed):
    """No new order may use this account's data: the portal has closed, or the holder has
    restricted its use, or the account was anonymised (privacy policy)."""

    def __init__(self, code: str, title: str, detail: str) -> None:
        super().__init__(code, detail, title=title)


class AlreadyOrdered(Conflict):
    """An order already covers one of the locations, or the organisation that may order once;
    ``field`` names what the caller asked for that the earlier order covers."""

    @classmethod
    def location(cls) -> AlreadyOrdered:
        return cls(
            "location-already-ordered",
            "Badges have already been ordered for one of these locations. One order covers all "
            "the staff at a location; contact customer services if you need to change it.",
            field="lines",
            title="An order already exists for this location",
        )

    @classmethod
    def organisation(cls) -> AlreadyOrdered:
        return cls(
            "organisation-already-ordered",
            "One order covers all your organisation's staff, so this one has not been taken. "
            "See your orders; contact customer services if it needs changing.",
            field="staff_count",
            title="Your organisation has already ordered badges",
        )


PORTAL_CLOSED = (
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

    Raises OrderRefused or LocationNotAuthorised (the order's content), OrderingHeld,
    AccountNotReady, AlreadyOrdered or EarlierOrderWaiting.
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

    async def placed_once() -> Placed:
        async with service.db.transaction() as session:
            # The account's lock first and alone, then everything placing reads in one
            # statement, then the order and all that goes with it in one, and its events in one.
            await awaiting.lock_for_placing(session, principal.account_id)
            account = await repository.account_for_placing(
                session, principal.account_id, with_locations=staff_count is None
            )
            _refuse_if_held(account)
            if staff_count is not None:
                built = await _own_address_order(session, principal, staff_count, contact_name)
            else:
                assert lines is not None and deliver_to is not None  # check_order_shape
                built = _cqc_order(principal, lines, deliver_to, contact_name, account.locations)
            quantity = sum(count for _, count in built.lines)
            recipient = notify_email or account.registered_email or None
            reviewed = principal.kind != AccountKind.CQC
            try:
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
                    notify_email=recipient,
                    top_up=built.top_up,
                    one_per_organisation=one_order_only(principal.kind),
                    awaits_delivery_to=None if built.delivery else deliver_to,
                    email_owed=not recipient,
                    correlation_id=correlation_id,
                    confirmation=(
                        emails.order_placed(recipient, reference, quantity, reviewed, built.top_up)
                        if recipient
                        else None
                    ),
                )
            except repository.LocationAlreadyOrdered as exc:
                raise AlreadyOrdered.location() from exc
            except accounts.OrganisationAlreadyOrdered as exc:
                raise AlreadyOrdered.organisation() from exc
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
                reported = OrderPlacedForReporting.of(placed, built.organisation_type)
                await service.emit(session, reported, correlation_id)
                await service.emit(session, placed, correlation_id)
        return Placed(order_id, reference, quantity, built.top_up)

    # A deadlock with a consumer's transaction rolls all of it back: take the order again
    # rather than answer the provider with an error.
    return await again_after_conflicts(placed_once)


def _cqc_order(
    principal: Principal,
    lines: list[tuple[str, int]],
    deliver_to: str,
    contact_name: str,
    known: dict[str, dict[str, Any]],
) -> Built:
    """Lines for the caller's CQC locations (the token authorises them), delivered to one of
    them as the register says (``known``: the register details orders holds of the account's
    locations); no delivery yet if its details have not reached orders."""
    requested = [location for location, _ in lines]
    check_locations(requested, principal.locations, deliver_to)
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
        raise AccountNotReady()
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


def _refuse_if_held(account: repository.Account) -> None:
    """Read after the account's lock, so a restriction whose handler has committed is seen,
    and one being applied waits for this order (ADR 0061)."""
    if account.portal_closed:
        raise OrderingHeld(*PORTAL_CLOSED)
    if account.held in HELD_FOR:
        raise OrderingHeld(*HELD_FOR[account.held])
