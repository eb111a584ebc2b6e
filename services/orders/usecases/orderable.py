"""What the signed-in account can order next, worked out before the first question so a
provider is told at the start, not at the last step (issue 16, item 9).

Placing checks everything again: this only decides what the pages offer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.orders.domain.own_address import (
    EarlierOrder,
    EarlierOrderWaiting,
    badges_sent,
    is_top_up,
    one_order_only,
    orders_to_own_address,
)
from services.orders.store import accounts, repository
from services.orders.usecases.placing import ready_to_order
from shared.http.auth import Principal
from shared.runtime import Service


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


@dataclass(frozen=True)
class Orderable:
    #: The CQC locations that have no order yet, by id (empty for an own-address account).
    locations: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The CQC locations an order already covers.
    ordered: list[dict[str, Any]] = field(default_factory=list)
    #: Why nothing can be ordered now ("" when something can).
    why_not: str = ""

    @property
    def anything(self) -> bool:
        return not self.why_not


ALL_LOCATIONS_ORDERED = (
    "Every location on your account already has an order. One order covers all the staff at "
    "a location, so there is nothing more to order"
)
ORGANISATION_ORDERED = (
    "Your organisation has already ordered badges. One order covers all your organisation's "
    "staff, so there is nothing more to order"
)
EARLIER_WAITING = (
    "Your earlier order has not been sent yet. You can order more once it has been sent"
)


async def orderable(
    service: Service, principal: Principal, known: dict[str, dict[str, Any]]
) -> Orderable:
    """What the account may order now, and if nothing, why. ``known``: the locations the
    account signed in for, by id, as its session holds them."""
    if orders_to_own_address(principal.kind):
        plan = await own_address_plan(service, principal)
        if plan.already_ordered:
            return Orderable(why_not=ORGANISATION_ORDERED)
        if plan.waiting is not None:
            return Orderable(why_not=EARLIER_WAITING)
        return Orderable()
    taken = await repository.already_ordered(service.db, list(known))
    free = {i: loc for i, loc in known.items() if i not in taken}
    ordered = [loc for i, loc in known.items() if i in taken]
    return Orderable(free, ordered, "" if free or not known else ALL_LOCATIONS_ORDERED)
