"""What the signed-in account can still order, worked out before the first question so a
provider is told at the start, not at the last step (issue 16, item 9).

Placing checks everything again: this only decides what the pages offer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from services.orders import placing
from services.orders.domain.own_address import orders_to_own_address
from services.orders.store import repository
from services.orders.web.auth import SiteAuth
from shared.http.auth import Principal
from shared.runtime import Service


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
    service: Service, auth: SiteAuth, request: Request, principal: Principal
) -> Orderable:
    """What the account may order now, and if nothing, why."""
    if orders_to_own_address(principal.kind):
        plan = await placing.own_address_plan(service, principal)
        if plan.already_ordered:
            return Orderable(why_not=ORGANISATION_ORDERED)
        if plan.waiting is not None:
            return Orderable(why_not=EARLIER_WAITING)
        return Orderable()
    known = auth.locations(request)
    async with service.db.transaction() as session:
        taken = await repository.already_ordered(session, list(known))
    free = {i: loc for i, loc in known.items() if i not in taken}
    ordered = [loc for i, loc in known.items() if i in taken]
    return Orderable(free, ordered, "" if free or not known else ALL_LOCATIONS_ORDERED)
