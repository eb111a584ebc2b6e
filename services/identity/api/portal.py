"""Closing the portal: the operations commands (privacy policy, retention and disposal).

``POST /api/portal/close``: no new accounts (identity) or orders (orders, on PortalClosed);
orders in flight finish or are cancelled as orders is configured. ``POST /api/portal/dispose``,
once the orders in flight are done: every account is disabled and anonymised (each gets its
AccountAnonymised, so every service scrubs what it holds), every store of email addresses
identity keeps is deleted and the dead-letter queues are emptied.

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.api.context import Identity, identity
from services.identity.domain.accounts import Role
from services.identity.store import audit, portal
from shared.events import AccountAnonymised, PortalClosed
from shared.http.auth import Principal, require_role
from shared.http.problems import Problem
from shared.logging import get_logger
from shared.messaging.dead_letters import purge_dead_letters
from shared.runtime import Service

log = get_logger(__name__)


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
        async with service.db.transaction() as session:
            found = await portal.closure(session)
        return _state(found)

    @api.post("/close", response_model=PortalState)
    async def close(
        request: Request,
        staff: Principal = Depends(operations),
        ctx: Identity = Depends(identity),
    ) -> PortalState:
        """Close the portal: no new accounts or orders from now on."""
        now = ctx.clock()
        async with service.db.transaction() as session:
            if await portal.close(session, staff.account_id, now):
                await service.emit(session, PortalClosed(closed_at=now), _cid(request))
                await audit.record(session, audit.Action.PORTAL_CLOSED, by=str(staff.account_id))
            found = await portal.closure(session)
        return _state(found)

    @api.post("/dispose", response_model=Disposed)
    async def dispose(
        request: Request,
        staff: Principal = Depends(operations),
        ctx: Identity = Depends(identity),
    ) -> Disposed:
        """Destroy the portal's personal data: run once the orders in flight are done."""
        now = ctx.clock()
        async with service.db.transaction() as session:
            if await portal.closure(session) is None:
                raise Problem(
                    409,
                    "portal-open",
                    "The portal is still open",
                    "Close the portal first (POST /api/portal/close), let the orders in flight "
                    "finish or be cancelled, then destroy its data.",
                )
            anonymised = await portal.dispose(
                session, now, outbox=service.outbox_table, email_outbox=ctx.email_outbox
            )
            for account_id in anonymised:
                await service.emit(session, AccountAnonymised(account_id=account_id), _cid(request))
            await audit.record(session, audit.Action.PORTAL_DISPOSED, by=str(staff.account_id))
            found = await portal.closure(session)
        connection = service.broker._connection  # no public accessor in faststream 0.7
        if connection is None:
            raise Problem(503, "broker-unavailable", "The broker is unreachable", "Try again.")
        purged = await purge_dead_letters(connection)
        log.info("portal data destroyed", accounts=len(anonymised), dead_letters=purged)
        return Disposed(
            **_state(found).model_dump(),
            accounts_anonymised=len(anonymised),
            dead_letters_purged=purged,
        )

    return api


async def refuse_new_accounts(session: AsyncSession) -> None:
    """Once the portal is closed no account is created, whichever way it would be."""
    if await portal.closure(session) is not None:
        raise Problem(
            403,
            "portal-closed",
            "The CARE badges portal has closed",
            "Badges can no longer be ordered, so no new accounts are made.",
        )


def _state(found: dict[str, object] | None) -> PortalState:
    if found is None:
        return PortalState(state="open")
    disposed = found["disposed_at"]
    return PortalState.model_validate(
        {**found, "state": "disposed" if disposed else "closed"}, from_attributes=False
    )


def _cid(request: Request) -> str:
    correlation_id: str = request.state.correlation_id
    return correlation_id
