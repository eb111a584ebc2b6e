"""The automatic checks: an order arrives, or its account's locations do, and every order
that can now be checked is; gather the facts, decide, record, announce. A cancelled order
leaves the queue and no longer counts as an earlier order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.domain.checks import History, Outcome, Policy, evaluate
from services.verification.store import repository
from shared.events import OrderPlaced, OrderReferred, OrderVerified
from shared.runtime import Service

AUTOMATIC = "automatic"
#: Before a decision an order may still be withdrawn by its account.
WITHDRAWABLE = frozenset({"awaiting_authorisation", "referred"})


class Checker:
    """The automatic checks for one service instance, with the policy from its settings."""

    def __init__(self, service: Service, policy: Policy) -> None:
        self.service = service
        self.policy = policy

    async def take(self, session: AsyncSession, placed: OrderPlaced, correlation_id: str) -> None:
        """Keep a new order and check it now, or once its account's locations reach us."""
        await repository.lock_account(session, placed.account_id)
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
        if fresh is not None:
            await self.check(session, fresh, correlation_id)

    async def learn_locations(
        self,
        session: AsyncSession,
        account_id: UUID,
        locations: Sequence[dict[str, Any]],
        correlation_id: str,
    ) -> None:
        """Keep the account's locations and check any of its orders that were waiting."""
        await repository.lock_account(session, account_id)
        await repository.save_authorisations(session, account_id, locations)
        for order in await repository.orders_awaiting_authorisation(session, account_id):
            await self.check(session, order, correlation_id)

    async def check(
        self, session: AsyncSession, order: dict[str, Any], correlation_id: str
    ) -> None:
        """Run the checks on a locked order still awaiting them, and act on the outcome."""
        authorised = await repository.authorised_locations(session, order["account_id"]) or {}
        ours = [
            authorised[line["location_id"]]
            for line in order["lines"]
            if line.get("location_id") in authorised
        ]
        provider_ids = sorted({loc.provider_id for loc in ours if loc.provider_id})
        await repository.serialise_checks(
            session,
            [f"loc:{line['location_id']}" for line in order["lines"] if line.get("location_id")]
            + [f"provider:{p}" for p in provider_ids]
            + [f"postcode:{order['postcode_key']}"],
        )
        history = History(
            locations_already_ordered=await repository.locations_with_earlier_orders(
                session, order
            ),
            other_accounts=await repository.other_account_orders(session, order, provider_ids),
        )
        decision = evaluate(repository.facts(order), authorised or None, history, self.policy)
        if decision.outcome is Outcome.WAIT:
            return
        names = [*order["names"], *(n for loc in ours for n in (loc.name, loc.provider_name))]
        keys = repository.organisation_keys(provider_ids, [n for n in names if n])
        if decision.outcome is Outcome.VERIFIED:
            await repository.set_state(
                session, order, "verified", actor=AUTOMATIC, checks=decision.checks, also=keys
            )
            await self.service.emit(
                session,
                OrderVerified(order_id=order["order_id"], decided_by=AUTOMATIC),
                correlation_id,
            )
        else:
            await repository.set_state(
                session,
                order,
                "referred",
                actor=AUTOMATIC,
                reasons=decision.reasons,
                checks=decision.checks,
                also=keys,
            )
            await self.service.emit(
                session,
                OrderReferred(order_id=order["order_id"], reasons=decision.reasons),
                correlation_id,
            )


async def withdraw(session: AsyncSession, order_id: UUID) -> None:
    """The account cancelled the order: out of the queue if no one has decided it yet."""
    order = await repository.lock_order(session, order_id)
    if order is not None and order["state"] in WITHDRAWABLE:
        await repository.set_state(session, order, "cancelled", actor="account")
