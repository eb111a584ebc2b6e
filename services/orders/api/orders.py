"""The JSON API for placing and tracking orders (the site's pages use the same rules)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.orders.api import privacy
from services.orders.domain.order import OrderRefused, check_locations, new_reference
from services.orders.store import repository
from shared.events import AccountKind, Delivery, OrderLine, OrderPlaced
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
        requested = [line.location_id for line in body.lines]
        try:
            check_locations(requested, principal.locations, body.deliver_to_location_id)
        except OrderRefused as refused:
            raise _problem(refused) from refused

        order_id = uuid.uuid4()
        reference = new_reference()
        quantity = sum(line.staff_count for line in body.lines)
        placed_at = datetime.now(UTC)
        correlation_id: str = request.state.correlation_id
        async with service.db.transaction() as session:
            await privacy.refuse_if_held(session, principal.account_id)
            known = await repository.authorised_location_details(session, principal.account_id)
            missing = [loc for loc in requested if loc not in known]
            if missing:
                raise Problem(
                    409,
                    "locations-not-ready",
                    "Your locations are still being set up",
                    "We are still loading your locations' details. Try again in a few seconds.",
                    headers={"Retry-After": "2"},
                )
            site = known[body.deliver_to_location_id]
            delivery = Delivery(
                recipient_name=body.contact_name,
                organisation_name=site["name"],
                address_line_1=site["address_line_1"],
                address_line_2=site.get("address_line_2", ""),
                city=site.get("city", ""),
                postcode=site["postcode"],
                location_id=body.deliver_to_location_id,
            )
            try:
                seq = await repository.insert_order(
                    session,
                    order_id=order_id,
                    reference=reference,
                    account_id=principal.account_id,
                    account_kind=principal.kind,
                    quantity=quantity,
                    delivery=delivery.model_dump(),
                    lines=[(line.location_id, line.staff_count) for line in body.lines],
                    placed_at=placed_at,
                )
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
            await service.emit(
                session,
                OrderPlaced(
                    order_id=order_id,
                    reference=reference,
                    account_id=principal.account_id,
                    account_kind=AccountKind(principal.kind),
                    placed_at=placed_at,
                    placement_seq=seq,
                    lines=[
                        OrderLine(location_id=line.location_id, staff_count=line.staff_count)
                        for line in body.lines
                    ],
                    quantity=quantity,
                    delivery=delivery,
                    region=site.get("region", ""),
                    local_authority=site.get("local_authority", ""),
                ),
                correlation_id,
            )
        response.headers["Location"] = f"/api/orders/{order_id}"
        return OrderCreated(
            order_id=order_id, reference=reference, status="placed", quantity=quantity
        )

    @api.get("/{order_id}", response_model=OrderView)
    async def get_order(order_id: uuid.UUID, principal: Principal = provider) -> OrderView:
        """One of the caller's orders with its timeline; another account's is 'not found'."""
        async with service.db.transaction() as session:
            order = await repository.get_order(session, order_id)
        if order is None or order["account_id"] != principal.account_id:
            raise Problem(
                404,
                "order-not-found",
                "Order not found",
                "There is no order with that id on your account.",
            )
        return OrderView(
            order_id=order["id"],
            reference=order["reference"],
            status=order["status"],
            quantity=order["quantity"],
            placed_at=order["placed_at"],
            lines=order["lines"],
            history=[TimelineStep(**step) for step in order["history"]],
        )

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
