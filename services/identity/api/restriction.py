"""Restricting, or objecting to, the use of one's data (privacy policy, rights 3 and 4).

The holder (or customer services on their behalf) restricts the account: everything is kept,
nothing new is done with it. Orders refuses new orders and dispatch holds back parcels until
the restriction is lifted; the holder can still sign in, see their data and lift it.

A restriction is acknowledged (204) only once orders has confirmed, with AccountHoldApplied,
that it will accept no new order from the account (ADR 0061): orders verifies tokens alone,
so only orders can say when an order can no longer get through. If that takes longer than
``restriction_confirm_seconds`` the answer is 202: recorded, and being put in place.

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

import asyncio
import time
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.api.context import Identity, identity
from services.identity.domain.accounts import Role
from services.identity.store import audit, repository, restrictions
from shared.events import AccountRestricted, AccountRestrictionLifted
from shared.http.auth import Principal, require_role
from shared.http.problems import Problem
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


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["your data"])
    anyone_signed_in = require_role(service.verifier, *sorted(r.value for r in Role))
    customer_services = require_role(service.verifier, Role.CUSTOMER_SERVICE)

    async def known(session: AsyncSession, account_id: UUID) -> None:
        """404 for an account that does not exist: lifting a restriction from nobody is a
        mistake (a mistyped id) the caller must hear about, not a silent success."""
        if await repository.account_by_id(session, account_id) is None:
            raise Problem(404, "no-such-account", "Account not found", "Check the account ID.")

    async def restrict(
        account_id: UUID, ground: str, by: UUID, correlation_id: str, ctx: Identity
    ) -> Response:
        async with service.db.transaction() as session:
            await known(session, account_id)
            restriction_id, new = await restrictions.restrict(session, account_id, ground, by)
            if new:
                await service.emit(
                    session,
                    AccountRestricted(
                        account_id=account_id, ground=ground, restriction_id=restriction_id
                    ),
                    correlation_id,
                )
                await audit.record(
                    session, audit.Action.ACCOUNT_RESTRICTED, account_id=account_id, by=str(by)
                )
        if restriction_id is None or await in_force(
            restriction_id, ctx.settings.restriction_confirm_seconds
        ):
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

    async def in_force(restriction_id: UUID, within: float) -> bool:
        """Whether orders confirms the hold within ``within`` seconds (polled: a rare request,
        and identity's own database is where the confirmation lands)."""
        deadline = time.monotonic() + within
        while True:
            async with service.db.transaction() as session:
                if await restrictions.is_applied(session, restriction_id):
                    return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)

    async def lift(account_id: UUID, by: UUID, correlation_id: str) -> None:
        async with service.db.transaction() as session:
            await known(session, account_id)
            if await restrictions.lift(session, account_id):
                await service.emit(
                    session, AccountRestrictionLifted(account_id=account_id), correlation_id
                )
                await audit.record(
                    session, audit.Action.RESTRICTION_LIFTED, account_id=account_id, by=str(by)
                )

    @api.post("/account/restriction", status_code=204, responses=ACKNOWLEDGED)
    async def restrict_mine(
        body: RestrictionIn,
        request: Request,
        principal: Principal = Depends(anyone_signed_in),
        ctx: Identity = Depends(identity),
    ) -> Response:
        """Stop your data being used (no new orders, nothing sent) while keeping it."""
        return await restrict(
            principal.account_id, body.ground, principal.account_id, _cid(request), ctx
        )

    @api.delete("/account/restriction", status_code=204)
    async def lift_mine(
        request: Request, principal: Principal = Depends(anyone_signed_in)
    ) -> Response:
        """Let your data be used again: held parcels are sent, new orders can be placed."""
        await lift(principal.account_id, principal.account_id, _cid(request))
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
        return await restrict(account_id, body.ground, staff.account_id, _cid(request), ctx)

    @api.delete(
        "/accounts/{account_id}/restriction",
        status_code=204,
        responses={404: {"description": "No account has that id."}},
    )
    async def lift_for(
        account_id: UUID, request: Request, staff: Principal = Depends(customer_services)
    ) -> Response:
        """Customer services lift a restriction at its holder's request."""
        await lift(account_id, staff.account_id, _cid(request))
        return Response(status_code=204)

    return api


def _cid(request: Request) -> str:
    correlation_id: str = request.state.correlation_id
    return correlation_id
