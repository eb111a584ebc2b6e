"""The review queue's API: the customer services team approves or rejects referred orders.

This is the only code that emits OrderRejected, and it needs a signed-in customer services
account: every refusal has a named person and a reason the user will see.
"""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.verification.store import repository
from shared.events import OrderRejected, OrderVerified
from shared.http.auth import Principal, require_role
from shared.http.problems import Problem
from shared.runtime import Service


class QueuedOrder(BaseModel):
    order_id: uuid.UUID
    reference: str
    account_kind: str
    quantity: int
    placed_at: datetime
    reasons: list[str]
    version: int


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] = ""
    version: int = Field(description="The order's version the reviewer was looking at.")

    @model_validator(mode="after")
    def _reason_for_rejection(self) -> "DecisionIn":
        if self.decision == "reject" and not self.reason:
            raise ValueError("reason is required to reject: the user will see it")
        return self


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api/reviews", tags=["reviews"])
    reviewer = Depends(require_role(service.verifier, "customer_service"))

    @api.get("", response_model=list[QueuedOrder])
    async def queue(principal: Principal = reviewer) -> list[QueuedOrder]:
        """Referred orders, oldest placed first."""
        async with service.db.transaction() as session:
            return [QueuedOrder(**row) for row in await repository.review_queue(session)]

    @api.post("/{order_id}/decision", status_code=204)
    async def decide(
        order_id: uuid.UUID,
        body: DecisionIn,
        request: Request,
        principal: Principal = reviewer,
    ) -> None:
        """Approve or reject a referred order; refused if someone else decided it first."""
        async with service.db.transaction() as session:
            order = await repository.lock_order(session, order_id)
            if order is None:
                raise Problem(
                    404, "order-not-found", "Order not found", "There is no order with that id."
                )
            if order["state"] != "referred":
                raise Problem(
                    409,
                    "already-decided",
                    "This order is not waiting for a decision",
                    f"The order is {order['state']}: there is nothing to decide.",
                )
            if order["version"] != body.version:
                raise Problem(
                    409,
                    "changed-since-viewed",
                    "Someone else changed this order",
                    "Reload the order to see what changed, then decide again.",
                )
            reviewer_id = principal.account_id
            correlation_id: str = request.state.correlation_id
            if body.decision == "approve":
                await repository.set_state(session, order, "verified", actor=str(reviewer_id))
                await service.emit(
                    session,
                    OrderVerified(order_id=order_id, decided_by=str(reviewer_id)),
                    correlation_id,
                )
            else:
                await repository.set_state(
                    session, order, "rejected", actor=str(reviewer_id), reasons=[body.reason]
                )
                await service.emit(
                    session,
                    OrderRejected(order_id=order_id, reviewer_id=reviewer_id, reason=body.reason),
                    correlation_id,
                )

    return api
