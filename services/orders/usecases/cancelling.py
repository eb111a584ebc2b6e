"""Cancelling an order before the parcels are with the courier: from the site's order page or
the API, by the account that placed it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.orders.domain.order import NOT_YET_SENT, Status
from services.orders.store import accounts, repository
from services.orders.usecases.reading import NotYours
from shared.events import OrderCancelled
from shared.http.auth import Principal
from shared.runtime import Service
from shared.usecases import Conflict

#: Before the parcels are with the courier an order can still be cancelled.
CANCELLABLE = NOT_YET_SENT


class TooLateToCancel(Conflict):
    """The order is already with the courier, delivered, rejected or cancelled."""

    def __init__(self) -> None:
        super().__init__(
            "too-late-to-cancel",
            "The order has been dispatched, delivered, rejected or cancelled already.",
            title="This order can no longer be cancelled",
        )


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
            raise NotYours()
        if status not in CANCELLABLE:
            raise TooLateToCancel()
        await repository.record_status(session, order_id, Status.CANCELLED, datetime.now(UTC))
        await repository.release_locations(session, order_id)
        await accounts.release_organisation(session, order_id)
        await service.emit(session, OrderCancelled(order_id=order_id), correlation_id)
