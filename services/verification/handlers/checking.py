"""Running the automatic checks on one order: gather the facts, decide, record, announce."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.domain.checks import History, Outcome, Policy, evaluate
from services.verification.store import repository
from shared.events import OrderReferred, OrderVerified
from shared.runtime import Service

AUTOMATIC = "automatic"


class Checker:
    """The automatic checks for one service instance, with the policy from its settings."""

    def __init__(self, service: Service, policy: Policy) -> None:
        self.service = service
        self.policy = policy

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
