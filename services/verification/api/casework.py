"""The back office's casework API: an order's whole story, finding an order for a caller,
correcting a delivery address, follow-ups, and disabling or anonymising an account.

Customer services only (403 for any other role).
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.verification.api.refusals import answering
from services.verification.api.reviews import QueuedOrder, Text, queued, reviewer_of
from services.verification.usecases import casework, follow_ups
from services.verification.usecases import identity_accounts as identity
from shared.events import Delivery
from shared.http.auth import Principal, bearer_token, require_role
from shared.identity import IdentityClient
from shared.runtime import Service

Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Required = Annotated[Line, StringConstraints(min_length=1)]


class CheckOut(BaseModel):
    check: str
    passed: bool
    detail: str


class AuditOut(BaseModel):
    actor: str
    action: str
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    personal_before: dict[str, Any] | None = None
    personal_after: dict[str, Any] | None = None


class NoteOut(BaseModel):
    author: str
    note: str
    at: datetime


class FollowUpOut(BaseModel):
    id: int
    order_id: uuid.UUID
    reference: str | None = None
    kind: str
    detail: str
    raised_at: datetime
    raised_for: str | None
    resolved_by: str | None
    resolved_at: datetime | None


class AccountOut(BaseModel):
    account_id: uuid.UUID
    kind: str
    email: str | None
    organisation_name: str | None
    postcode: str | None


class OrderDetail(BaseModel):
    order_id: uuid.UUID
    reference: str
    account_id: uuid.UUID
    account_kind: str
    state: str
    quantity: int
    placed_at: datetime
    lines: list[dict[str, Any]]
    delivery: dict[str, Any]
    reasons: list[str]
    checks: list[CheckOut]
    decided_by: str | None
    decided_at: datetime | None
    version: int
    account: AccountOut | None
    register_entries: list[dict[str, Any]] = Field(
        description="The CQC register entry of each location."
    )
    other_orders: list[dict[str, Any]] = Field(description="The account's other orders.")
    notes: list[NoteOut]
    follow_ups: list[FollowUpOut]
    audit: list[AuditOut]


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient_name: Required
    organisation_name: Required
    address_line_1: Required
    address_line_2: Line = ""
    city: Line = ""
    postcode: Annotated[Line, StringConstraints(min_length=5, max_length=10)]
    version: int = Field(description="The order's version the reviewer was looking at.")

    def delivery(self) -> Delivery:
        return Delivery(**self.model_dump(exclude={"version"}))


class AccountActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[
        Text, StringConstraints(min_length=1, max_length=identity.REASON_MAX_LENGTH)
    ] = Field(description="Why, for the audit trail (for example 'asked by phone').")


def router(service: Service, identity_link: IdentityClient) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["back office"])
    reviewer = Depends(require_role(service.verifier, "customer_service"))

    @api.get("/orders/search", response_model=list[QueuedOrder])
    async def search(
        q: str = Query(min_length=1, max_length=320, description="Reference, email or postcode."),
        principal: Principal = reviewer,
    ) -> list[QueuedOrder]:
        """Find orders for a caller on the phone, by reference, account email or postcode."""
        with answering():
            rows = await casework.find_orders(service, q)
        now = datetime.now(UTC)
        return [queued(row, now) for row in rows]

    @api.get("/orders/{order_id}", response_model=OrderDetail)
    async def detail(order_id: uuid.UUID, principal: Principal = reviewer) -> dict[str, Any]:
        """What was ordered, by whom, the checks and their results, and everything since."""
        with answering():
            return await casework.order_story(service, order_id)

    @api.put("/orders/{order_id}/delivery-address", status_code=204)
    async def correct_address(
        order_id: uuid.UUID, body: AddressIn, request: Request, principal: Principal = reviewer
    ) -> None:
        """Correct where the parcel goes before it is dispatched (FAQ 13)."""
        with answering():
            await casework.correct_address(
                service, order_id, body.version, body.delivery(), reviewer_of(principal, request)
            )

    @api.get("/follow-ups", response_model=list[FollowUpOut])
    async def open_follow_ups(principal: Principal = reviewer) -> list[dict[str, Any]]:
        """Returned parcels and refused address corrections waiting for a person, oldest first."""
        return await follow_ups.open_follow_ups(service)

    @api.post("/follow-ups/{follow_up_id}/resolve", status_code=204)
    async def resolve(follow_up_id: int, request: Request, principal: Principal = reviewer) -> None:
        with answering():
            await follow_ups.resolve_follow_up(
                service, follow_up_id, reviewer_of(principal, request)
            )

    @api.post("/accounts/{account_id}/{action}", status_code=204)
    async def account_action(
        account_id: uuid.UUID,
        action: identity.AccountAction,
        body: AccountActionIn,
        request: Request,
        principal: Principal = reviewer,
    ) -> None:
        """Disable or anonymise an account at the holder's request, through identity."""
        with answering():
            await identity.act_on_account(
                identity_link, action, account_id, body.reason, bearer_token(request)
            )
        await casework.record_account_action(
            service, account_id, action.value, body.reason, reviewer_of(principal, request)
        )

    return api
