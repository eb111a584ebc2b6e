"""Correcting an order's delivery details before it is sent (privacy policy, right 2): who
receives the parcel, until it is with the courier (:mod:`services.orders.usecases.recipient`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.orders.api.refusals import problem
from services.orders.usecases import recipient
from shared.http.auth import Principal, require_role
from shared.runtime import Service
from shared.usecases import Refused


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
        try:
            delivery = await recipient.change_recipient(
                service, principal, order_id, body.contact_name, request.state.correlation_id
            )
        except Refused as refused:
            raise problem(refused) from refused
        return DeliveryOut(order_id=order_id, delivery=delivery)

    return api
