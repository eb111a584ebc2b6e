"""What a reviewer can do, each in one transaction with its audit entry and its event.

The JSON API and the back-office pages both call these, so a rule (a decided order cannot be
decided again, a stale page cannot overwrite a newer change) holds whichever is used. A
crash before the commit leaves nothing behind; after it, the outbox relay publishes the event
however often the process restarts, and a repeated request is refused as already decided.

This is the only code that emits OrderRejected, and every caller passes the signed-in
reviewer: every refusal has a named person and a reason the user will see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.domain.postcodes import PostcodeVerdict, classify
from services.verification.store import audit, backoffice, repository
from shared.events import Delivery, DeliveryAddressChanged, OrderRejected, OrderVerified
from shared.http.problems import Problem
from shared.runtime import Service

DECIDED = {"verified": "approved", "rejected": "rejected", "cancelled": "cancelled by the account"}
#: States in which the delivery address may still be corrected (dispatch refuses it later
#: if the parcel has already left, and that refusal comes back as a follow-up).
ADDRESS_CORRECTABLE = frozenset({"awaiting_authorisation", "referred", "verified"})


@dataclass(frozen=True)
class Reviewer:
    account_id: UUID
    correlation_id: str
    #: As the token named them (staff tokens carry it): shown instead of the id.
    name: str = ""


async def _named(session: AsyncSession, reviewer: Reviewer) -> None:
    """Remember who this reviewer is, so pages name them beside what they did."""
    if reviewer.name:
        await backoffice.remember_reviewer(session, str(reviewer.account_id), reviewer.name)


async def _locked(session: AsyncSession, order_id: UUID, version: int) -> dict[str, Any]:
    order = await repository.lock_order(session, order_id)
    if order is None:
        raise Problem(404, "order-not-found", "Order not found", "There is no order with that id.")
    if order["version"] != version:
        raise _changed_since_viewed()
    return order


def _changed_since_viewed() -> Problem:
    return Problem(
        409,
        "changed-since-viewed",
        "Someone else changed this order",
        "Reload the order to see what changed, then try again.",
    )


def _must_be_waiting(order: dict[str, Any]) -> None:
    state = order["state"]
    if state == "referred":
        return
    if state in DECIDED:
        by = f" by {order['decided_by']}" if order.get("decided_by") else ""
        detail = f"The order {order['reference']} was already {DECIDED[state]}{by}."
    else:
        detail = f"The order {order['reference']} is still being checked automatically."
    raise Problem(409, "already-decided", "This order is not waiting for a decision", detail)


async def approve(service: Service, order_id: UUID, version: int, reviewer: Reviewer) -> None:
    async with service.db.transaction() as session:
        await _named(session, reviewer)
        order = await _locked(session, order_id, version)
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
        raise Problem(
            422,
            "invalid-request",
            "Your request has fields that need correcting",
            "reason is required to reject: the user will see it",
            errors=[{"field": "reason", "message": "is required to reject: the user will see it"}],
        )
    async with service.db.transaction() as session:
        await _named(session, reviewer)
        order = await _locked(session, order_id, version)
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
    async with service.db.transaction() as session:
        await _named(session, reviewer)
        order = await _locked(session, order_id, version)
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


async def correct_address(
    service: Service, order_id: UUID, version: int, delivery: Delivery, reviewer: Reviewer
) -> None:
    """Change where the parcel goes (FAQ 13) and tell dispatch and orders by an event."""
    finding = classify(delivery.postcode)
    if finding.verdict in (PostcodeVerdict.INVALID, PostcodeVerdict.OUTSIDE):
        raise Problem(
            422,
            "invalid-request",
            "Your request has fields that need correcting",
            f"postcode {finding.reason}",
            errors=[{"field": "postcode", "message": finding.reason}],
        )
    async with service.db.transaction() as session:
        await _named(session, reviewer)
        order = await _locked(session, order_id, version)
        if order["state"] not in ADDRESS_CORRECTABLE:
            raise Problem(
                409,
                "address-not-correctable",
                "The address of this order cannot be changed",
                f"The order {order['reference']} was {DECIDED.get(order['state'], order['state'])}"
                ": nothing will be sent.",
            )
        new = {**delivery.model_dump(), "location_id": order["delivery"].get("location_id")}
        await backoffice.set_delivery(session, order, new)
        changed = sorted(k for k in new if new[k] != order["delivery"].get(k))
        await audit.record(
            session,
            actor=str(reviewer.account_id),
            action="delivery_address_changed",
            order_id=order_id,
            account_id=order["account_id"],
            before={"version": order["version"]},
            after={"version": order["version"] + 1, "fields_changed": changed},
            personal_before=order["delivery"],
            personal_after=new,
        )
        await service.emit(
            session,
            DeliveryAddressChanged(
                order_id=order_id,
                changed_by=reviewer.account_id,
                delivery=Delivery.model_validate(new),
            ),
            reviewer.correlation_id,
        )


async def resolve_follow_up(service: Service, follow_up_id: int, reviewer: Reviewer) -> None:
    async with service.db.transaction() as session:
        await _named(session, reviewer)
        item = await backoffice.lock_follow_up(session, follow_up_id)
        if item is None:
            raise Problem(404, "follow-up-not-found", "Not found", "There is no such follow-up.")
        if item["resolved_at"] is not None:
            raise Problem(
                409,
                "already-resolved",
                "This was already dealt with",
                f"It was marked dealt with by {item['resolved_by']}.",
            )
        await backoffice.resolve_follow_up(session, follow_up_id, str(reviewer.account_id))
        await audit.record(
            session,
            actor=str(reviewer.account_id),
            action="follow_up_resolved",
            order_id=item["order_id"],
            before={"follow_up": follow_up_id, "kind": item["kind"], "resolved": False},
            after={"follow_up": follow_up_id, "kind": item["kind"], "resolved": True},
        )


async def record_account_action(
    service: Service, account_id: UUID, action: str, reason: str, reviewer: Reviewer
) -> None:
    """Keep the back office's own record of a disable or anonymise identity carried out."""
    async with service.db.transaction() as session:
        await _named(session, reviewer)
        await audit.record(
            session,
            actor=str(reviewer.account_id),
            action=f"account_{action}",
            account_id=account_id,
            before={},
            after={"done": action, "reason": reason},
        )
