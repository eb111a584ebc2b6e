"""Restricting, or objecting to, the use of one's data (privacy policy, rights 3 and 4).

The holder (or customer services on their behalf) restricts the account: everything is kept,
nothing new is done with it. Orders refuses new orders and dispatch holds back parcels until
the restriction is lifted; the holder can still sign in, see their data and lift it.

A restriction is in force only once orders has confirmed, with AccountHoldApplied, that it
will accept no new order from the account (ADR 0061): orders verifies tokens alone, so only
orders can say when an order can no longer get through. Restricting waits up to
``restriction_confirm_seconds`` for that confirmation.
"""

from __future__ import annotations

import asyncio
import time
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.store import audit, repository, restrictions
from services.identity.usecases.context import Identity
from services.identity.usecases.refusals import no_such_account
from shared.events import AccountRestricted, AccountRestrictionLifted
from shared.runtime import Service

#: How often a restriction request looks for orders' confirmation while it waits.
POLL_SECONDS = 0.05


async def restrict(
    ctx: Identity, account_id: UUID, ground: str, by: UUID, correlation_id: str
) -> bool:
    """Restrict the account (again: no change); True once orders confirms no new order can
    be placed, False if it has not confirmed within ``restriction_confirm_seconds``."""
    service = ctx.service
    async with service.db.transaction() as session:
        await _known(session, account_id)
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
    return restriction_id is None or await _in_force(
        service, restriction_id, ctx.settings.restriction_confirm_seconds
    )


async def lift(service: Service, account_id: UUID, by: UUID, correlation_id: str) -> None:
    """Let the account's data be used again: held parcels are sent, new orders placed."""
    async with service.db.transaction() as session:
        await _known(session, account_id)
        if await restrictions.lift(session, account_id):
            await service.emit(
                session, AccountRestrictionLifted(account_id=account_id), correlation_id
            )
            await audit.record(
                session, audit.Action.RESTRICTION_LIFTED, account_id=account_id, by=str(by)
            )


async def _known(session: AsyncSession, account_id: UUID) -> None:
    """Refuse an account that does not exist: lifting a restriction from nobody is a
    mistake (a mistyped id) the caller must hear about, not a silent success."""
    if await repository.account_by_id(session, account_id) is None:
        raise no_such_account()


async def _in_force(service: Service, restriction_id: UUID, within: float) -> bool:
    """Whether orders confirms the hold within ``within`` seconds.

    A bounded wait inside one request, not background work: polled, because the request is
    rare and identity's own database is where the confirmation lands.
    """
    deadline = time.monotonic() + within
    while True:
        async with service.db.transaction() as session:
            if await restrictions.is_applied(session, restriction_id):
                return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
