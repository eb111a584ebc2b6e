"""An order decided elsewhere: verified (it ships once it holds stock), rejected or cancelled
(it gives back what it holds, and the waitlist is served)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain import order_state
from services.dispatch.store import ledger, orders
from services.dispatch.usecases.fulfilment import Fulfilment
from shared.runtime import Service


class Orders:
    """Verification's and the customer's decisions about an order, carried out."""

    def __init__(self, service: Service) -> None:
        self.fulfilment = Fulfilment(service)

    async def order_verified(
        self, session: AsyncSession, order_id: UUID, correlation_id: str
    ) -> None:
        """Ship a verified order that holds stock; remember the verification otherwise.

        Three statements: the stock lock, the order's lock with its account's restriction
        (read after the stock lock, so a restriction lifted meanwhile is seen), and either
        the allocation with everything that goes with it or the order's facts saved."""
        await ledger.lock_stock(session)
        locked = await orders.lock_order_to_decide(session, order_id)
        order = locked.order
        await self.fulfilment.apply(
            session,
            order,
            order_state.verified(order.facts),
            correlation_id,
            restricted=locked.restricted,
        )

    async def order_closed(
        self, session: AsyncSession, order_id: UUID, correlation_id: str
    ) -> None:
        """A rejection or cancellation: give back what the order holds, serve the waitlist."""
        await ledger.lock_stock(session)
        order = await orders.lock_order(session, order_id)
        await self.fulfilment.apply(session, order, order_state.closed(order.facts), correlation_id)
