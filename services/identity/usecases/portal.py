"""Closing the portal (privacy policy, retention and disposal).

Closing: no new accounts (identity) or orders (orders, on PortalClosed); orders in flight
finish or are cancelled as orders is configured. Disposing, once the orders in flight are
done: every account is disabled and anonymised (each gets its AccountAnonymised, so every
service scrubs what it holds), every store of email addresses identity keeps is deleted and
the dead-letter queues are emptied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.store import audit, portal
from services.identity.usecases.context import Identity
from shared.events import AccountAnonymised, PortalClosed
from shared.logging import get_logger
from shared.messaging.dead_letters import purge_dead_letters
from shared.runtime import Service
from shared.usecases import Conflict, NotAllowed, Unavailable

log = get_logger(__name__)

#: When the portal closed and was disposed of (None while open).
Closure = dict[str, Any] | None


@dataclass(frozen=True)
class Disposal:
    closure: Closure
    accounts_anonymised: int
    dead_letters_purged: int


async def refuse_new_accounts(session: AsyncSession) -> None:
    """Once the portal is closed no account is created, whichever way it would be."""
    if await portal.closure(session) is not None:
        raise NotAllowed(
            "portal-closed",
            "Badges can no longer be ordered, so no new accounts are made.",
            title="The CARE badges portal has closed",
        )


async def closure(service: Service) -> Closure:
    """Whether the portal is open, closed, or closed and its data destroyed."""
    async with service.db.transaction() as session:
        return await portal.closure(session)


async def close(ctx: Identity, by: UUID, correlation_id: str) -> Closure:
    """Close the portal: no new accounts or orders from now on (again: no change)."""
    now = ctx.clock()
    async with ctx.service.db.transaction() as session:
        if await portal.close(session, by, now):
            await ctx.service.emit(session, PortalClosed(closed_at=now), correlation_id)
            await audit.record(session, audit.Action.PORTAL_CLOSED, by=str(by))
        return await portal.closure(session)


async def dispose(ctx: Identity, by: UUID, correlation_id: str) -> Disposal:
    """Destroy the portal's personal data: run once the orders in flight are done."""
    service = ctx.service
    now = ctx.clock()
    async with service.db.transaction() as session:
        if await portal.closure(session) is None:
            raise Conflict(
                "portal-open",
                "Close the portal first (POST /api/portal/close), let the orders in flight "
                "finish or be cancelled, then destroy its data.",
                title="The portal is still open",
            )
        anonymised = await portal.dispose(
            session, now, outbox=service.outbox_table, email_outbox=ctx.email_outbox
        )
        for account_id in anonymised:
            await service.emit(session, AccountAnonymised(account_id=account_id), correlation_id)
        await audit.record(session, audit.Action.PORTAL_DISPOSED, by=str(by))
        found = await portal.closure(session)
    connection = service.broker._connection  # no public accessor in faststream 0.7
    if connection is None:
        raise Unavailable("broker-unavailable", "Try again.", title="The broker is unreachable")
    purged = await purge_dead_letters(connection)
    log.info("portal data destroyed", accounts=len(anonymised), dead_letters=purged)
    return Disposal(found, len(anonymised), purged)
