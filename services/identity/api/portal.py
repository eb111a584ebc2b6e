"""Closing the portal over HTTP: the operations commands (privacy policy, retention and
disposal; the rules are in ``services.identity.usecases.portal``).

``POST /api/portal/close`` stops new accounts and orders; ``POST /api/portal/dispose``, once
the orders in flight are done, destroys the portal's personal data.

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from services.identity.api.requests import correlation_id, identity
from services.identity.domain.accounts import Role
from services.identity.usecases import portal
from services.identity.usecases.context import Identity
from shared.http.auth import Principal, require_role
from shared.runtime import Service


class PortalState(BaseModel):
    state: str
    closed_at: datetime | None = None
    disposed_at: datetime | None = None


class Disposed(PortalState):
    accounts_anonymised: int
    dead_letters_purged: int


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api/portal", tags=["operations"])
    operations = require_role(service.verifier, Role.OPERATIONS)

    @api.get("", response_model=PortalState)
    async def state() -> PortalState:
        """Whether the portal is open, closed, or closed and its data destroyed."""
        return _state(await portal.closure(service))

    @api.post("/close", response_model=PortalState)
    async def close(
        request: Request,
        staff: Principal = Depends(operations),
        ctx: Identity = Depends(identity),
    ) -> PortalState:
        """Close the portal: no new accounts or orders from now on."""
        return _state(await portal.close(ctx, staff.account_id, correlation_id(request)))

    @api.post("/dispose", response_model=Disposed)
    async def dispose(
        request: Request,
        staff: Principal = Depends(operations),
        ctx: Identity = Depends(identity),
    ) -> Disposed:
        """Destroy the portal's personal data: run once the orders in flight are done."""
        done = await portal.dispose(ctx, staff.account_id, correlation_id(request))
        return Disposed(
            **_state(done.closure).model_dump(),
            accounts_anonymised=done.accounts_anonymised,
            dead_letters_purged=done.dead_letters_purged,
        )

    return api


def _state(found: portal.Closure) -> PortalState:
    if found is None:
        return PortalState(state="open")
    disposed = found["disposed_at"]
    return PortalState.model_validate(
        {**found, "state": "disposed" if disposed else "closed"}, from_attributes=False
    )
