"""The review queue and a reviewer's decisions: approve, reject, or ask for more.

The JSON API and the back-office pages both call these, so a rule (a decided order cannot be
decided again, a stale page cannot overwrite a newer change) holds whichever is used. A
crash before the commit leaves nothing behind; after it, the outbox relay publishes the event
however often the process restarts, and a repeated request is refused as already decided.

This is the only code that emits OrderRejected, and every caller passes the signed-in
reviewer: every refusal has a named person and a reason the user will see.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from services.verification.domain.queue import QueueFilter
from services.verification.store import backoffice, repository
from services.verification.usecases.reviewers import Reviewer, acting, lock_as_seen
from shared.events import OrderRejected, OrderVerified
from shared.runtime import Service
from shared.usecases import Conflict, Invalid

DECIDED = {"verified": "approved", "rejected": "rejected", "cancelled": "cancelled by the account"}


async def review_queue(service: Service, wanted: QueueFilter) -> list[dict[str, Any]]:
    """Referred orders matching the filter, oldest placed first."""
    async with service.db.transaction() as session:
        return await backoffice.review_queue(session, wanted)


def _must_be_waiting(order: dict[str, Any]) -> None:
    state = order["state"]
    if state == "referred":
        return
    if state in DECIDED:
        by = f" by {order['decided_by']}" if order.get("decided_by") else ""
        detail = f"The order {order['reference']} was already {DECIDED[state]}{by}."
    else:
        detail = f"The order {order['reference']} is still being checked automatically."
    raise Conflict("already-decided", detail, title="This order is not waiting for a decision")


async def approve(service: Service, order_id: UUID, version: int, reviewer: Reviewer) -> None:
    async with acting(service, reviewer) as session:
        order = await lock_as_seen(session, order_id, version)
        _must_be_waiting(order)
        by = str(reviewer.account_id)
        await repository.set_state(session, order, "verified", actor=by)
        await service.emit(
            session, OrderVerified(order_id=order_id, decided_by=by), reviewer.correlation_id
        )


async def reject(
    service: Service, order_id: UUID, version: int, reason: str, reviewer: Reviewer
) -> None:
    """Refuse the order with a reason the user will see: a person's decision, never automatic."""
    if not reason.strip():
        raise Invalid(
            "invalid-request", "is required to reject: the user will see it", field="reason"
        )
    async with acting(service, reviewer) as session:
        order = await lock_as_seen(session, order_id, version)
        _must_be_waiting(order)
        by = str(reviewer.account_id)
        await repository.set_state(session, order, "rejected", actor=by, reasons=[reason])
        await service.emit(
            session,
            OrderRejected(order_id=order_id, reviewer_id=reviewer.account_id, reason=reason),
            reviewer.correlation_id,
        )


async def ask_for_information(
    service: Service, order_id: UUID, version: int, note: str, reviewer: Reviewer
) -> None:
    """Leave a note of what is needed; the order stays in the queue for whoever picks it up."""
    async with acting(service, reviewer) as session:
        order = await lock_as_seen(session, order_id, version)
        _must_be_waiting(order)
        await backoffice.add_note(session, order_id, str(reviewer.account_id), note)
        await repository.set_state(
            session,
            order,
            "referred",
            actor=str(reviewer.account_id),
            reasons=order["reasons"],
            action="more_information_requested",
        )
