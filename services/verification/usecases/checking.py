"""The automatic checks: an order arrives, or its account's locations do, and every order
that can now be checked is; gather the facts, decide, record, announce. A cancelled order
leaves the queue and no longer counts as an earlier order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.domain.checks import Outcome, Policy, awaits_locations, evaluate
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
        """Keep a new order and check it now, or once its account's locations reach us.

        Checked before it is stored, so the order is written once, already decided (or
        awaiting its locations), with the decision's audit entry in the same statement."""
        await repository.lock_account(session, placed.account_id)
        order = repository.placed_order(
            {
                "order_id": placed.order_id,
                "reference": placed.reference,
                "account_id": placed.account_id,
                "account_kind": placed.account_kind.value,
                "quantity": placed.quantity,
                "placed_at": placed.placed_at,
                "lines": [line.model_dump() for line in placed.lines],
                "delivery": placed.delivery.model_dump(),
            }
        )
        decided = await self.decide(session, order)
        fresh = await repository.insert_order(session, order, decided, actor=AUTOMATIC)
        if fresh and decided is not None:  # an order already known was decided before
            await self.announce(session, order, decided, correlation_id)

    async def learn_locations(
        self,
        session: AsyncSession,
        account_id: UUID,
        locations: Sequence[dict[str, Any]],
        correlation_id: str,
        *,
        refresh: bool = True,
        account: dict[str, Any] | None = None,
    ) -> None:
        """Keep the account's locations (and ``account``, a registration's details, in the
        same statement) and check any of its orders that were waiting. ``refresh`` False
        keeps details already held (a registration's older snapshot)."""
        await repository.lock_account(session, account_id)
        saved = await repository.save_authorisations(
            session, account_id, locations, refresh=refresh, account=account
        )
        for order in saved:
            await self.check(session, order, correlation_id)

    async def check(
        self, session: AsyncSession, order: dict[str, Any], correlation_id: str
    ) -> None:
        """Run the checks on a locked order still awaiting them, and act on the outcome."""
        decided = await self.decide(session, order)
        if decided is None:
            return
        await repository.set_state(
            session,
            order,
            decided.state,
            actor=AUTOMATIC,
            reasons=decided.reasons,
            checks=decided.checks,
            also=decided.also,
        )
        await self.announce(session, order, decided, correlation_id)

    async def decide(
        self, session: AsyncSession, order: dict[str, Any]
    ) -> repository.Decided | None:
        """Gather the facts (under the locks that serialise checks of one organisation) and
        decide: what to write, or None while the order waits for its locations."""
        authorised = await repository.authorised_locations(session, order)
        facts = repository.facts(order)
        if awaits_locations(facts, authorised):
            return None  # no history needed to decide nothing yet
        known = authorised or {}
        ours = [
            known[line["location_id"]]
            for line in order["lines"]
            if line.get("location_id") in known
        ]
        provider_ids = sorted({loc.provider_id for loc in ours if loc.provider_id})
        history = await repository.history(session, order, provider_ids)
        decision = evaluate(facts, authorised, history, self.policy)
        if decision.outcome is Outcome.WAIT:
            return None
        names = [*order["names"], *(n for loc in ours for n in (loc.name, loc.provider_name))]
        keys = repository.organisation_keys(provider_ids, [n for n in names if n])
        if decision.outcome is Outcome.VERIFIED:
            return repository.Decided("verified", checks=decision.checks, also=keys)
        return repository.Decided(
            "referred", reasons=decision.reasons, checks=decision.checks, also=keys
        )

    async def announce(
        self,
        session: AsyncSession,
        order: dict[str, Any],
        decided: repository.Decided,
        correlation_id: str,
    ) -> None:
        if decided.state == "verified":
            await self.service.emit(
                session,
                OrderVerified(order_id=order["order_id"], decided_by=AUTOMATIC),
                correlation_id,
            )
        else:
            await self.service.emit(
                session,
                OrderReferred(order_id=order["order_id"], reasons=decided.reasons or []),
                correlation_id,
            )


async def withdraw(session: AsyncSession, order_id: UUID) -> None:
    """The account cancelled the order: out of the queue if no one has decided it yet."""
    order = await repository.lock_order(session, order_id)
    if order is not None and order["state"] in WITHDRAWABLE:
        await repository.set_state(session, order, "cancelled", actor="account")
