"""Reading the caller's own orders: every read is checked against the signed-in account, and
another account's order is answered exactly like one that does not exist."""

from __future__ import annotations

import uuid
from typing import Any

from services.orders.store import repository
from shared.http.auth import Principal
from shared.runtime import Service
from shared.usecases import NotFound


class NotYours(NotFound):
    """No such order on the caller's account (another account's is answered the same)."""

    def __init__(self) -> None:
        super().__init__(
            "order-not-found",
            "There is no order with that id on your account.",
            title="Order not found",
        )


async def your_order(service: Service, principal: Principal, order_id: uuid.UUID) -> dict[str, Any]:
    """The order with its lines and timeline, read in one snapshot; NotYours otherwise."""
    order = await repository.read_order(service.db, order_id)
    if order is None or order["account_id"] != principal.account_id:
        raise NotYours()
    return order


async def your_orders(service: Service, principal: Principal) -> list[dict[str, Any]]:
    """The account's orders, in the order they were placed."""
    async with service.db.transaction() as session:
        return await repository.list_orders(session, principal.account_id)
