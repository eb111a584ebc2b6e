"""The JSON API for placing and tracking orders (the site's pages use the same rules)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from services.orders.api.refusals import problem
from services.orders.domain.answers import MAX_STAFF, OVER_THE_ONLINE_LIMIT
from services.orders.usecases import cancelling, placing, reading
from shared.http.auth import Principal, require_role
from shared.runtime import Service
from shared.usecases import Refused

LocationId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


def _online_limit(count: int) -> int:
    if count > MAX_STAFF:
        raise ValueError(f"must be {MAX_STAFF:,} or fewer online. {OVER_THE_ONLINE_LIMIT}.")
    return count


#: Over the online limit the answer says how to order anyway, not only that it is too many.
StaffCount = Annotated[
    int,
    Field(strict=True, gt=0, json_schema_extra={"maximum": MAX_STAFF}),
    AfterValidator(_online_limit),
]


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    location_id: LocationId
    staff_count: StaffCount = Field(
        description="Members of staff currently employed at this location: one badge each."
    )


class OrderIn(BaseModel):
    """A CQC-registered provider gives ``lines`` and ``deliver_to_location_id``. An account not
    on CQC's register (a non-CQC provider, a personal assistant, a local authority) gives
    ``staff_count`` instead: its badges go to the address it registered, and a person checks
    the order. A local authority's later orders are top-ups: ``staff_count`` is then the
    number of badges needed on top of those already sent."""

    model_config = ConfigDict(extra="forbid")

    lines: list[LineIn] | None = Field(
        None, min_length=1, max_length=200, description="CQC providers only: one per location."
    )
    deliver_to_location_id: LocationId | None = Field(
        None, description="CQC providers only: which of the order's locations to deliver to."
    )
    staff_count: StaffCount | None = Field(
        None,
        description="Accounts not on CQC's register only: members of staff employed now, one "
        "badge each (for a local authority's top-up, the badges needed on top of those sent).",
    )
    contact_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ] = Field(description="Who will receive the parcel.")


class OrderCreated(BaseModel):
    order_id: uuid.UUID
    reference: str
    status: str
    quantity: int
    top_up: bool = Field(False, description="A local authority's order on top of earlier ones.")


class TimelineStep(BaseModel):
    status: str
    detail: str
    occurred_at: datetime


class OrderView(BaseModel):
    order_id: uuid.UUID
    reference: str
    status: str
    quantity: int
    placed_at: datetime
    lines: list[dict[str, Any]]
    history: list[TimelineStep]


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api/orders", tags=["orders"])
    provider = Depends(require_role(service.verifier, "provider"))

    @api.post(
        "",
        status_code=201,
        response_model=OrderCreated,
        responses={
            403: {"description": "Ordering is held (restricted, anonymised, portal closed)."},
            409: {
                "description": "Already ordered (location-already-ordered, "
                "organisation-already-ordered), an earlier order still to be sent "
                "(earlier-order-waiting), or a self-registered account still being set up "
                "(account-not-ready: retry after a few seconds). A CQC provider's order is "
                "taken straight after sign-in: the token says which locations it may order for."
            },
            422: {"description": "Invalid input; the problem's errors name the field."},
            503: {
                "description": "The site's waiting room is queueing (waiting-room): the caller "
                "has a place; try again after Retry-After seconds (ADR 0052)."
            },
        },
    )
    async def place_order(
        body: OrderIn,
        request: Request,
        response: Response,
        principal: Principal = provider,
    ) -> OrderCreated:
        """Place one order: a CQC provider's for its locations, delivered to one of them;
        anyone else's to the address they registered."""
        try:
            placed = await placing.place_order(
                service,
                principal,
                body.contact_name,
                request.state.correlation_id,
                lines=(
                    [(line.location_id, line.staff_count) for line in body.lines]
                    if body.lines
                    else None
                ),
                deliver_to=body.deliver_to_location_id,
                staff_count=body.staff_count,
            )
        except Refused as refused:
            raise problem(refused) from refused
        order_id = placed.order_id
        response.headers["Location"] = f"/api/orders/{order_id}"
        return OrderCreated(
            order_id=order_id,
            reference=placed.reference,
            status="placed",
            quantity=placed.quantity,
            top_up=placed.top_up,
        )

    @api.get("/{order_id}", response_model=OrderView)
    async def get_order(order_id: uuid.UUID, principal: Principal = provider) -> OrderView:
        """One of the caller's orders with its timeline; another account's is 'not found'."""
        try:
            order = await reading.your_order(service, principal, order_id)
        except Refused as refused:
            raise problem(refused) from refused
        return OrderView(
            order_id=order["id"],
            reference=order["reference"],
            status=order["status"],
            quantity=order["quantity"],
            placed_at=order["placed_at"],
            lines=order["lines"],
            history=[TimelineStep(**step) for step in order["history"]],
        )

    @api.post("/{order_id}/cancel", status_code=204)
    async def cancel_order(
        order_id: uuid.UUID, request: Request, principal: Principal = provider
    ) -> Response:
        """Cancel one of the caller's orders before it is dispatched."""
        try:
            await cancelling.cancel_order(
                service, principal, order_id, request.state.correlation_id
            )
        except Refused as refused:
            raise problem(refused) from refused
        return Response(status_code=204)

    @api.get("", response_model=list[OrderCreated])
    async def list_orders(principal: Principal = provider) -> list[OrderCreated]:
        rows = await reading.your_orders(service, principal)
        return [
            OrderCreated(
                order_id=r["id"],
                reference=r["reference"],
                status=r["status"],
                quantity=r["quantity"],
                top_up=r["top_up"],
            )
            for r in rows
        ]

    return api
