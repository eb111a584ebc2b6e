"""Restricting, or objecting to, the use of one's data over HTTP (privacy policy, rights 3
and 4; the rules are in ``services.identity.usecases.restriction``).

A restriction is acknowledged with 204 only once orders has confirmed that it will accept no
new order from the account (ADR 0061); if that takes longer than
``restriction_confirm_seconds`` the answer is 202: recorded, and being put in place.

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.identity.api.requests import correlation_id, identity
from services.identity.domain.accounts import Role
from services.identity.usecases import restriction
from services.identity.usecases.context import Identity
from shared.http.auth import Principal, require_role
from shared.runtime import Service


class RestrictionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ground: Literal["restriction", "objection"] = Field(
        "restriction",
        description="restriction: limit how your data is used (for example while a mistake is "
        "corrected); objection: do not use it.",
    )


ACKNOWLEDGED: dict[int | str, dict[str, Any]] = {
    204: {"description": "In force: no new order from the account will be accepted."},
    202: {"description": "Recorded and being put in place; orders has not yet confirmed it."},
}


def _acknowledged(in_force: bool) -> Response:
    if in_force:
        return Response(status_code=204)
    return JSONResponse(
        {
            "status": "being-applied",
            "detail": "Your restriction is recorded and is being put in place. Orders "
            "placed in the next few seconds may still be accepted; check your orders and "
            "cancel any you did not mean to place.",
        },
        status_code=202,
    )


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["your data"])
    anyone_signed_in = require_role(service.verifier, *sorted(r.value for r in Role))
    customer_services = require_role(service.verifier, Role.CUSTOMER_SERVICE)

    @api.post("/account/restriction", status_code=204, responses=ACKNOWLEDGED)
    async def restrict_mine(
        body: RestrictionIn,
        request: Request,
        principal: Principal = Depends(anyone_signed_in),
        ctx: Identity = Depends(identity),
    ) -> Response:
        """Stop your data being used (no new orders, nothing sent) while keeping it."""
        mine = principal.account_id
        in_force = await restriction.restrict(ctx, mine, body.ground, mine, correlation_id(request))
        return _acknowledged(in_force)

    @api.delete("/account/restriction", status_code=204)
    async def lift_mine(
        request: Request, principal: Principal = Depends(anyone_signed_in)
    ) -> Response:
        """Let your data be used again: held parcels are sent, new orders can be placed."""
        mine = principal.account_id
        await restriction.lift(service, mine, mine, correlation_id(request))
        return Response(status_code=204)

    @api.post("/accounts/{account_id}/restriction", status_code=204, responses=ACKNOWLEDGED)
    async def restrict_for(
        account_id: UUID,
        body: RestrictionIn,
        request: Request,
        staff: Principal = Depends(customer_services),
        ctx: Identity = Depends(identity),
    ) -> Response:
        """Customer services restrict an account at its holder's request."""
        in_force = await restriction.restrict(
            ctx, account_id, body.ground, staff.account_id, correlation_id(request)
        )
        return _acknowledged(in_force)

    @api.delete(
        "/accounts/{account_id}/restriction",
        status_code=204,
        responses={404: {"description": "No account has that id."}},
    )
    async def lift_for(
        account_id: UUID, request: Request, staff: Principal = Depends(customer_services)
    ) -> Response:
        """Customer services lift a restriction at its holder's request."""
        await restriction.lift(service, account_id, staff.account_id, correlation_id(request))
        return Response(status_code=204)

    return api
