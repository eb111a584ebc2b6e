"""An account as its holder sees and corrects it, and customer services disabling or
anonymising one on request.

A self-registered account's holder corrects their organisation, contact name, address and
phone (privacy policy, right 2); other services hear of it (AccountDetailsCorrected). A CQC
provider's details are CQC's register, so they are told how to have CQC correct them; the
next register import brings the correction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from services.identity.domain.accounts import AccountStatus
from services.identity.domain.sessions import RevokedBecause
from services.identity.store import audit, erasure, repository, restrictions
from services.identity.store import sessions as session_store
from services.identity.store.repository import Account
from services.identity.usecases.context import Identity
from services.identity.usecases.refusals import no_such_account, signed_out
from shared.events import AccountAnonymised, AccountDetailsCorrected, AccountKind, Location
from shared.runtime import Service
from shared.usecases import Conflict

CQC_CORRECTIONS = (
    "Your organisation's name, address and email come from the Care Quality Commission's "
    "register. Ask CQC to correct them (https://www.cqc.org.uk/contact-us, or through the "
    "CQC Provider Portal); the correction reaches us with the next copy of the register. "
    "To change who receives an order, correct the order before it is sent."
)


@dataclass(frozen=True)
class Held:
    """What the signed-in holder sees of their own account."""

    account: Account
    #: What a self-registered account gave (None for CQC accounts: they have locations).
    profile: dict[str, str] | None
    locations: list[Location]
    #: The restriction (or objection) in force, if any: its ground and when it began.
    restriction: dict[str, Any] | None


async def held(service: Service, account_id: UUID) -> Held:
    """The signed-in account's own details and the locations it may order for."""
    async with service.db.transaction() as session:
        account = await repository.account_by_id(session, account_id)
        if account is None or not account.active:
            raise signed_out()
        profile = await repository.load_profile(session, account.id)
        locations = await repository.authorised_locations(session, account.id)
        restricted = await restrictions.restriction_of(session, account.id)
    return Held(account, profile, [loc.as_event() for loc in locations], restricted)


async def correct_details(
    service: Service, account_id: UUID, details: dict[str, str], correlation_id: str
) -> None:
    """Replace the details a self-registered account gave (already checked by the rules
    they were first given under)."""
    async with service.db.transaction() as session:
        account = await repository.account_by_id(session, account_id)
        if account is None or not account.active:
            raise signed_out()
        if account.kind == AccountKind.CQC:
            raise Conflict("register-data", CQC_CORRECTIONS, title="These details are CQC's")
        await repository.replace_profile(session, account.id, details)
        await service.emit(
            session, AccountDetailsCorrected(account_id=account.id, **details), correlation_id
        )
        await audit.record(session, audit.Action.DETAILS_CORRECTED, account_id=account.id)


async def disable(ctx: Identity, account_id: UUID, by: UUID, reason: str) -> None:
    """Stop an account signing in and end its sessions (for example at the holder's
    request, or while a concern is looked into)."""
    now = ctx.clock()
    async with ctx.service.db.transaction() as session:
        if not await repository.set_status(session, account_id, AccountStatus.DISABLED):
            raise no_such_account()
        ended = await session_store.revoke_all(session, account_id, now, RevokedBecause.DISABLED)
        await audit.record(
            session,
            audit.Action.ACCOUNT_DISABLED,
            account_id=account_id,
            by=str(by),
            reason=reason,
            sessions_ended=ended,
        )


async def anonymise(
    ctx: Identity, account_id: UUID, by: UUID, reason: str, correlation_id: str
) -> None:
    """Disable the account, remove who held it, and tell every service to do the same."""
    now = ctx.clock()
    service = ctx.service
    async with service.db.transaction() as session:
        email = await erasure.erase_account(session, account_id, email_outbox=ctx.email_outbox)
        if email is None:
            raise no_such_account()
        await service.forget_published(session, [str(account_id), email])
        await session_store.revoke_all(session, account_id, now, RevokedBecause.ANONYMISED)
        await service.emit(session, AccountAnonymised(account_id=account_id), correlation_id)
        await audit.record(
            session,
            audit.Action.ACCOUNT_ANONYMISED,
            account_id=account_id,
            by=str(by),
            reason=reason,
        )
