"""Verification's event handlers: learn accounts and locations, check each placed order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.domain.checks import Outcome, Policy, evaluate
from services.verification.settings import VerificationSettings
from services.verification.store import repository
from services.verification.store.tables import accounts, authorisations, orders
from shared.events import (
    AccountAnonymised,
    AccountRegistered,
    Envelope,
    LocationsAuthorised,
    OrderCancelled,
    OrderPlaced,
    OrderReferred,
    OrderVerified,
)
from shared.runtime import Service
from shared.store.forget import forget_published_events

AUTOMATIC = "automatic"


def register(service: Service, settings: VerificationSettings) -> None:
    """Subscribe verification's handlers on ``service``."""
    policy = Policy(settings.max_badges_per_bed, settings.manual_check_threshold)

    async def check(session: AsyncSession, order: dict[str, Any], correlation_id: str) -> None:
        """Run the automatic checks on a locked order still awaiting them, and act on them."""
        authorised = await repository.authorised_locations(session, order["account_id"])
        earlier = await repository.locations_with_earlier_orders(session, order)
        decision = evaluate(repository.facts(order), authorised, earlier, policy)
        if decision.outcome is Outcome.VERIFIED:
            await repository.set_state(session, order, "verified", actor=AUTOMATIC)
            await service.emit(
                session,
                OrderVerified(order_id=order["order_id"], decided_by=AUTOMATIC),
                correlation_id,
            )
        elif decision.outcome is Outcome.REFERRED:
            await repository.set_state(
                session, order, "referred", actor=AUTOMATIC, reasons=decision.reasons
            )
            await service.emit(
                session,
                OrderReferred(order_id=order["order_id"], reasons=decision.reasons),
                correlation_id,
            )

    @service.handles(OrderPlaced)
    async def order_placed(session: AsyncSession, event: Envelope[OrderPlaced]) -> None:
        """Check a new order now, or once its account's locations reach us."""
        placed = event.payload
        fresh = await repository.insert_order(
            session,
            {
                "order_id": placed.order_id,
                "reference": placed.reference,
                "account_id": placed.account_id,
                "account_kind": placed.account_kind.value,
                "quantity": placed.quantity,
                "placed_at": placed.placed_at,
                "state": "awaiting_authorisation",
                "lines": [line.model_dump() for line in placed.lines],
                "delivery": placed.delivery.model_dump(),
            },
        )
        if fresh:
            order = await repository.lock_order(session, placed.order_id)
            if order is not None:
                await check(session, order, event.correlation_id)

    @service.handles(LocationsAuthorised)
    async def locations_authorised(
        session: AsyncSession, event: Envelope[LocationsAuthorised]
    ) -> None:
        """Learn the account's locations and check any of its orders that were waiting."""
        account_id = event.payload.account_id
        await repository.save_authorisations(
            session, account_id, [loc.model_dump() for loc in event.payload.locations]
        )
        for order in await repository.orders_awaiting_authorisation(session, account_id):
            await check(session, order, event.correlation_id)

    @service.handles(AccountRegistered)
    async def account_registered(session: AsyncSession, event: Envelope[AccountRegistered]) -> None:
        """Remember the account, to show reviewers who ordered and find orders by email."""
        p = event.payload
        await repository.upsert_account(
            session,
            {
                "account_id": p.account_id,
                "kind": p.kind.value,
                "email": p.email,
                "organisation_name": p.organisation_name,
                "postcode": p.postcode,
            },
        )

    @service.handles(OrderCancelled)
    async def order_cancelled(session: AsyncSession, event: Envelope[OrderCancelled]) -> None:
        """A cancelled order leaves the queue and no longer counts as an earlier order."""
        order = await repository.lock_order(session, event.payload.order_id)
        if order is not None and order["state"] in ("awaiting_authorisation", "referred"):
            await repository.set_state(session, order, "cancelled", actor="account")

    @service.handles(AccountAnonymised)
    async def account_anonymised(session: AsyncSession, event: Envelope[AccountAnonymised]) -> None:
        """Keep decisions and the audit trail, drop everything that identifies the person."""
        account_id = event.payload.account_id
        await session.execute(
            update(accounts)
            .where(accounts.c.account_id == account_id)
            .values(email=None, organisation_name=None, postcode=None)
        )
        await session.execute(
            update(orders)
            .where(orders.c.account_id == account_id)
            .values(delivery={"anonymised": True})
        )
        await session.execute(
            delete(authorisations).where(authorisations.c.account_id == account_id)
        )
        await forget_published_events(session, service.outbox_table, [str(account_id)])
