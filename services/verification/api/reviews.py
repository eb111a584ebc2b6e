"""The review queue's API: the customer services team approves, rejects, or asks for more.

Every route needs a signed-in customer services account (deny by default: any other role
gets 403). The work itself is in :mod:`services.verification.usecases.reviews`, shared with
the back-office pages.
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.verification.api.refusals import answering
from services.verification.domain.checks import Check
from services.verification.domain.queue import QueueFilter, SizeBand
from services.verification.usecases import reviews
from services.verification.usecases.reviewers import Reviewer
from shared.events import AccountKind
from shared.http.auth import Principal, require_role
from shared.runtime import Service

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class QueuedOrder(BaseModel):
    order_id: uuid.UUID
    reference: str
    account_kind: str
    quantity: int
    placed_at: datetime
    age_seconds: int = Field(description="How long since the order was placed.")
    reasons: list[str]
    reason_codes: list[str]
    version: int


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    reason: Text = Field("", description="Required to reject: the user will see it.")
    version: int = Field(description="The order's version the reviewer was looking at.")

    @model_validator(mode="after")
    def _reason_for_rejection(self) -> "DecisionIn":
        if self.decision == "reject" and not self.reason:
            raise ValueError("reason is required to reject: the user will see it")
        return self


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[Text, StringConstraints(min_length=1)] = Field(
        description="What is needed and from whom; the order stays in the queue."
    )
    version: int = Field(description="The order's version the reviewer was looking at.")


def reviewer_of(principal: Principal, request: Request) -> Reviewer:
    return Reviewer(principal.account_id, request.state.correlation_id, principal.name)


def queued(row: dict[str, Any], now: datetime) -> QueuedOrder:
    age = int((now - row["placed_at"]).total_seconds())
    return QueuedOrder(**row, age_seconds=max(age, 0))


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api/reviews", tags=["reviews"])
    reviewer = Depends(require_role(service.verifier, "customer_service"))

    @api.get("", response_model=list[QueuedOrder])
    async def queue(
        principal: Principal = reviewer,
        reason: Check | None = Query(None, description="Only orders referred for this reason."),
        kind: AccountKind | None = Query(None, description="Only this organisation type."),
        size: SizeBand | None = Query(None, description="Only orders of this size."),
    ) -> list[QueuedOrder]:
        """Referred orders, oldest placed first, each with its age."""
        wanted = QueueFilter(
            reason=reason.value if reason else None,
            kind=kind.value if kind else None,
            size=size,
        )
        rows = await reviews.review_queue(service, wanted)
        now = datetime.now(UTC)
        return [queued(row, now) for row in rows]

    @api.post("/{order_id}/decision", status_code=204)
    async def decide(
        order_id: uuid.UUID, body: DecisionIn, request: Request, principal: Principal = reviewer
    ) -> None:
        """Approve or reject a referred order; refused if someone else decided it first."""
        who = reviewer_of(principal, request)
        with answering():
            if body.decision == "approve":
                await reviews.approve(service, order_id, body.version, who)
            else:
                await reviews.reject(service, order_id, body.version, body.reason, who)

    @api.post("/{order_id}/notes", status_code=204)
    async def ask_for_information(
        order_id: uuid.UUID, body: NoteIn, request: Request, principal: Principal = reviewer
    ) -> None:
        """Ask for more information: the note is kept and the order stays in the queue."""
        with answering():
            await reviews.ask_for_information(
                service, order_id, body.version, body.note, reviewer_of(principal, request)
            )

    return api
