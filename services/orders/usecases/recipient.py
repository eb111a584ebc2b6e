"""Correcting who receives an order's parcel before it is sent (privacy policy, right 2).

The holder may change who receives the parcel until it is handed to the courier; the
address of a CQC order is the location's address on CQC's register and is changed only by
customer services (SECURITY.md). The change goes to dispatch as DeliveryAddressChanged,
which uses it unless the parcel has already left (then it says so).
"""

from __future__ import annotations

import uuid
from typing import Any

from services.orders.domain.order import NOT_YET_SENT
from services.orders.store import privacy
from services.orders.usecases.reading import NotYours
from shared.events import Delivery, DeliveryAddressChanged
from shared.http.auth import Principal
from shared.runtime import Service
from shared.usecases import Conflict


class AlreadySent(Conflict):
    """The parcel is with the courier, or the order is closed."""

    def __init__(self) -> None:
        super().__init__(
            "already-sent",
            "The parcel is with the courier (or the order is closed), so who receives it can "
            "no longer be changed. Contact customer services.",
            field="contact_name",
            title="This order has already been sent",
        )


async def change_recipient(
    service: Service,
    principal: Principal,
    order_id: uuid.UUID,
    contact_name: str,
    correlation_id: str,
) -> dict[str, Any]:
    """Name someone else to receive the parcel; the order's delivery as it now stands.

    Raises NotYours or AlreadySent."""
    async with service.db.transaction() as session:
        order = await privacy.lock_own_order(session, order_id, principal.account_id)
        if order is None:
            raise NotYours()
        if order["status"] not in NOT_YET_SENT:
            raise AlreadySent()
        if order["delivery"].get("awaiting"):
            # Taken before the location's address reached orders (ADR 0061): nothing has
            # gone to dispatch yet, and OrderPlaced will carry the new name when it does.
            waiting = {**order["delivery"], "recipient_name": contact_name}
            await privacy.set_delivery(session, order_id, waiting)
            return waiting
        delivery = Delivery.model_validate(order["delivery"]).model_copy(
            update={"recipient_name": contact_name}
        )
        await privacy.set_delivery(session, order_id, delivery.model_dump())
        await service.emit(
            session,
            DeliveryAddressChanged(
                order_id=order_id, changed_by=principal.account_id, delivery=delivery
            ),
            correlation_id,
        )
    return delivery.model_dump()
