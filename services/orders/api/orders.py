"""The JSON API for placing and tracking orders (the site's pages use the same rules)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.orders import placing
from services.orders.domain.order import OrderRefused
from services.orders.store import repository
from shared.http.auth import Principal, require_role
from shared.http.problems import Problem
from shared.runtime import Service

LocationId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
StaffCount = Annotated[int, Field(strict=True, gt=0, le=10_000)]


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    location_id: LocationId
    staff_count: StaffCount = Field(
        description="Members of staff currently employed at this location: one badge each."
    )


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[LineIn] = Field(min_length=1, max_length=200)
    deliver_to_location_id: LocationId
    contact_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ] = Field(description="Who will receive the parcel.")


class OrderCreated(BaseModel):
    order_id: uuid.UUID
    reference: str
    status: str
    quantity: int


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

    @api.post("", status_code=201, response_model=OrderCreated)
    async def place_order(
        body: OrderIn,
        request: Request,
        response: Response,
        principal: Principal = provider,
    ) -> OrderCreated:
        """Place one order for the caller's locations, delivered to one of them."""
        try:
            placed = await placing.place_order(
                service,
                principal,
                [(line.location_id, line.staff_count) for line in body.lines],
                body.deliver_to_location_id,
                body.contact_name,
                request.state.correlation_id,
            )
        except OrderRefused as refused:
            raise _problem(refused) from refused
        except placing.OrderingHeld as held:
            raise Problem(403, held.code, held.title, held.detail) from held
        except placing.LocationsNotReady as exc:
            raise Problem(
                409,
                "locations-not-ready",
                "Your locations are still being set up",
                "We are still loading your locations' details. Try again in a few seconds.",
                headers={"Retry-After": "2"},
            ) from exc
        except repository.LocationAlreadyOrdered as exc:
            raise Problem(
                409,
                "location-already-ordered",
                "An order already exists for this location",
                "Badges have already been ordered for one of these locations. One order "
                "covers all the staff at a location; contact customer services if you "
                "need to change it.",
                field="lines",
            ) from exc
        order_id = placed.order_id
        response.headers["Location"] = f"/api/orders/{order_id}"
        return OrderCreated(
            order_id=order_id, reference=placed.reference, status="placed", quantity=placed.quantity
        )

    @api.get("/{order_id}", response_model=OrderView)
    async def get_order(order_id: uuid.UUID, principal: Principal = provider) -> OrderView:
        """One of the caller's orders with its timeline; another account's is 'not found'."""
        async with service.db.transaction() as session:
            order = await repository.get_order(session, order_id)
        if order is None or order["account_id"] != principal.account_id:
            raise _not_found()
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
            await placing.cancel_order(service, principal, order_id, request.state.correlation_id)
        except placing.NotYours as exc:
            raise _not_found() from exc
        except placing.TooLateToCancel as exc:
            raise Problem(
                409,
                "too-late-to-cancel",
                "This order can no longer be cancelled",
                "The order has been dispatched, delivered, rejected or cancelled already.",
            ) from exc
        return Response(status_code=204)

    @api.get("", response_model=list[OrderCreated])
    async def list_orders(principal: Principal = provider) -> list[OrderCreated]:
        async with service.db.transaction() as session:
            rows = await repository.list_orders(session, principal.account_id)
        return [
            OrderCreated(
                order_id=r["id"],
                reference=r["reference"],
                status=r["status"],
                quantity=r["quantity"],
            )
            for r in rows
        ]

    return api


def _problem(refused: OrderRefused) -> Problem:
    return Problem(
        refused.status,
        refused.slug,
        "This order cannot be placed",
        refused.message,
        errors=[{"field": refused.field, "message": refused.message}],
    )


def _not_found() -> Problem:
    return Problem(
        404, "order-not-found", "Order not found", "There is no order with that id on your account."
    )
