"""Casework for a caller on the phone: finding their order, its whole story, correcting where
the parcel goes (FAQ 13), and the back office's record of an account action identity carried
out."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from services.verification.domain.postcodes import PostcodeVerdict, classify
from services.verification.domain.queue import UnsearchableQuery
from services.verification.store import audit, backoffice
from services.verification.usecases.reviewers import (
    Reviewer,
    acting,
    lock_as_seen,
    order_not_found,
)
from services.verification.usecases.reviews import DECIDED
from shared.events import Delivery, DeliveryAddressChanged
from shared.runtime import Service
from shared.usecases import Conflict, Invalid

#: States in which the delivery address may still be corrected (dispatch refuses it later
#: if the parcel has already left, and that refusal comes back as a follow-up).
ADDRESS_CORRECTABLE = frozenset({"awaiting_authorisation", "referred", "verified"})


async def find_orders(service: Service, query: str) -> list[dict[str, Any]]:
    """Orders by reference, account email or delivery postcode, whichever ``query`` is."""
    try:
        async with service.db.transaction() as session:
            return await backoffice.search(session, query)
    except UnsearchableQuery as exc:
        raise Invalid("invalid-request", str(exc), field="q") from exc


async def order_story(service: Service, order_id: UUID) -> dict[str, Any]:
    """What was ordered, by whom, the checks and their results, and everything since."""
    async with service.db.transaction() as session:
        order = await backoffice.order_detail(session, order_id)
    if order is None:
        raise order_not_found()
    return order


async def correct_address(
    service: Service, order_id: UUID, version: int, delivery: Delivery, reviewer: Reviewer
) -> None:
    """Change where the parcel goes (FAQ 13) and tell dispatch and orders by an event."""
    finding = classify(delivery.postcode)
    if finding.verdict in (PostcodeVerdict.INVALID, PostcodeVerdict.OUTSIDE):
        raise Invalid("invalid-request", finding.reason, field="postcode")
    async with acting(service, reviewer) as session:
        order = await lock_as_seen(session, order_id, version)
        if order["state"] not in ADDRESS_CORRECTABLE:
            raise Conflict(
                "address-not-correctable",
                f"The order {order['reference']} was {DECIDED.get(order['state'], order['state'])}"
                ": nothing will be sent.",
                title="The address of this order cannot be changed",
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


async def record_account_action(
    service: Service, account_id: UUID, action: str, reason: str, reviewer: Reviewer
) -> None:
    """Keep the back office's own record of a disable or anonymise identity carried out."""
    async with acting(service, reviewer) as session:
        await audit.record(
            session,
            actor=str(reviewer.account_id),
            action=f"account_{action}",
            account_id=account_id,
            before={},
            after={"done": action, "reason": reason},
        )
