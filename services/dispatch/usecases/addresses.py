"""Customer services change where an order goes: used while the parcels have not left.

Too late (the parcels are with the courier, or the order is closed) the change is refused,
and the refusal is an outcome, not an exception: the handler answers it with an event for
the person who made the change, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.order_state import State
from services.dispatch.store import orders, shipments
from shared.events import Delivery
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class AddressChange:
    """What became of an address change."""

    used: bool
    #: Why it was not used, for the person who made it (empty when used).
    reason: str = ""
    #: The shipment the parcels left in, when that is why.
    shipment_reference: str | None = None


async def change_address(
    session: AsyncSession, order_id: UUID, delivery: Delivery
) -> AddressChange:
    """Use the corrected address if the parcel has not left yet; otherwise say why not."""
    order = await orders.lock_order(session, order_id)
    if order.facts.state is State.ALLOCATED:
        shipment = await shipments.shipment_for_order(session, order_id)
        reference = shipment.reference if shipment else None
        log.warning("delivery address changed after hand-over to the courier: refused")
        return AddressChange(
            used=False,
            reason=(
                f"The parcels were already handed to the courier (shipment {reference}) when "
                "the new address arrived, so they will go to the address they were sent with. "
                "If the courier cannot deliver them they come back to us and the order is "
                "passed to customer services."
            ),
            shipment_reference=reference,
        )
    if order.facts.closed:
        log.info("delivery address changed for a closed order: refused")
        return AddressChange(
            used=False,
            reason=(
                "The order is closed (rejected, cancelled, or its account was anonymised), so "
                "nothing will be sent and the new address was not kept."
            ),
        )
    await orders.set_delivery(session, order_id, delivery.model_dump())
    log.info("delivery address changed before hand-over: used")
    return AddressChange(used=True)
