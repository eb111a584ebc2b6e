"""The holder's rights as they reach dispatch: an account anonymised (its orders not yet
handed over are scrubbed and closed), restricted (nothing more of it is handed to the
courier) or its restriction lifted (what was held back goes)."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain import order_state
from services.dispatch.domain.order_state import Action
from services.dispatch.domain.shipment import FINAL
from services.dispatch.store import ledger, orders, privacy, shipments
from services.dispatch.usecases.fulfilment import Fulfilment
from shared.runtime import Service


class Privacy:
    """An account's holder exercising their rights, carried out on its orders and parcels."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.fulfilment = Fulfilment(service)

    async def account_anonymised(
        self, session: AsyncSession, account_id: UUID, correlation_id: str
    ) -> None:
        """Scrub and close the account's orders that have not been handed over."""
        await privacy.remember_anonymised(session, account_id)
        await ledger.lock_stock(session)
        serve = False
        for order in await orders.lock_account_orders(session, account_id):
            transition = order_state.anonymised(order.facts)
            # Serve once after closing them all, so one of the account's own waiting orders
            # is not reserved only to be released a moment later.
            serve |= Action.SERVE_WAITLIST in transition.actions
            actions = tuple(a for a in transition.actions if a is not Action.SERVE_WAITLIST)
            await self.fulfilment.apply(
                session, order, replace(transition, actions=actions), correlation_id
            )
        if serve:
            await self.fulfilment.serve_waitlist(session, correlation_id)
        # Published events that named the account (a copy of its data) are records only now.
        await self.service.forget_published(session, [str(account_id)])
        for shipment in await shipments.account_shipments(session, account_id):
            if shipment.status in FINAL:
                await self.fulfilment.forget_delivery(session, shipment)

    async def account_restricted(self, session: AsyncSession, account_id: UUID) -> None:
        """Nothing more of the account's is handed to the courier until it is lifted."""
        await privacy.restrict(session, account_id)

    async def restriction_lifted(
        self, session: AsyncSession, account_id: UUID, correlation_id: str
    ) -> None:
        """Hand over whatever was held back for the account."""
        await privacy.lift(session, account_id)
        await ledger.lock_stock(session)  # stock before orders, as every step locks
        for order in await orders.lock_account_orders(session, account_id):
            await self.fulfilment.apply(
                session, order, order_state.restriction_lifted(order.facts), correlation_id
            )
