"""Correcting an order's delivery details before it is sent (privacy policy, right 2).

The holder may change who receives the parcel until it is handed to the courier; the
address of a CQC order is the location's address on CQC's register and is changed only by
customer services (SECURITY.md). The change goes to dispatch as DeliveryAddressChanged,
which uses it unless the parcel has already left (then it says so).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.orders.store import privacy
from shared.events import Delivery, DeliveryAddressChanged
from shared.http.auth import Principal, require_role
from shared.http.problems import Problem
from shared.runtime import Service


class RecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ] = Field(description="Who will receive the parcel.")


class DeliveryOut(BaseModel):
    order_id: uuid.UUID
    delivery: dict[str, Any]


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api/orders", tags=["orders"])
    provider = Depends(require_role(service.verifier, "provider"))

    @api.put("/{order_id}/recipient", response_model=DeliveryOut)
    async def correct_recipient(
        order_id: uuid.UUID, body: RecipientIn, request: Request, principal: Principal = provider
    ) -> DeliveryOut:
        """Correct who receives the parcel, until it has been sent."""
        async with service.db.transaction() as session:
            order = await privacy.lock_own_order(session, order_id, principal.account_id)
            if order is None:
                raise Problem(
                    404,
                    "order-not-found",
                    "Order not found",
                    "There is no order with that id on your account.",
                )
            if order["status"] not in privacy.NOT_DISPATCHED:
                raise Problem(
                    409,
                    "already-sent",
                    "This order has already been sent",
                    "The parcel is with the courier (or the order is closed), so who receives "
                    "it can no longer be changed. Contact customer services.",
                    field="contact_name",
                )
            if order["delivery"].get("awaiting"):
                # Taken before the location's address reached orders (ADR 0061): nothing has
                # gone to dispatch yet, and OrderPlaced will carry the new name when it does.
                waiting = {**order["delivery"], "recipient_name": body.contact_name}
                await privacy.set_delivery(session, order_id, waiting)
                return DeliveryOut(order_id=order_id, delivery=waiting)
            delivery = Delivery.model_validate(order["delivery"]).model_copy(
                update={"recipient_name": body.contact_name}
            )
            await privacy.set_delivery(session, order_id, delivery.model_dump())
            await service.emit(
                session,
                DeliveryAddressChanged(
                    order_id=order_id, changed_by=principal.account_id, delivery=delivery
                ),
                request.state.correlation_id,
            )
        return DeliveryOut(order_id=order_id, delivery=delivery.model_dump())

    return api
