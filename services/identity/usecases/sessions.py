"""Sessions and their tokens: opening one at sign-in, renewing it, ending it, and whether a
token's session is still live.

A session's refresh token is stored only hashed and rotates at every renewal; presenting
one that was already rotated away ends the whole session (it was copied).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain.secrets import digest, new_secret
from services.identity.domain.sessions import RevokedBecause
from services.identity.store import audit, repository
from services.identity.store import sessions as session_store
from services.identity.store.repository import Account
from services.identity.store.sessions import SignedIn
from services.identity.usecases.context import Identity
from services.identity.usecases.refusals import session_ended
from shared.events import AccountKind, Location
from shared.runtime import Service


@dataclass
class Issued:
    """What a sign-in or renewal hands the caller."""

    access_token: str
    expires_in: int
    refresh_token: str
    account_id: UUID
    role: str
    kind: str
    locations: list[Location]
    #: For the browser that signed in to present at its next sign-in; empty on renewal.
    device_token: str = ""


async def issue(
    ctx: Identity,
    session: AsyncSession,
    account: Account,
    locations: list[Location],
    now: datetime,
    *,
    session_id: UUID | None = None,
    signed_in: SignedIn | None = None,
) -> Issued:
    """Keep a session (``session_id``, a renewal) or open one for a sign-in (``signed_in``:
    what it writes beside the session), and mint its tokens."""
    refresh, refresh_hash = new_secret()
    if session_id is not None:
        await session_store.rotate_to(session, session_id, refresh_hash)
    elif signed_in is not None:
        session_id = await session_store.open_session(
            session, account.id, refresh_hash, now, ctx.sessions, signed_in
        )
    else:
        raise TypeError("issue needs a session to keep or a sign-in to open one for")
    issued = ctx.minter.mint(
        account_id=account.id,
        role=account.role,
        kind=account.kind,
        locations=[loc.location_id for loc in locations],
        session_id=session_id,
        # Staff are named beside their decisions (a reviewer, not an id); their work address
        # is the name staff accounts have. Providers' tokens carry no personal data.
        name=account.email if account.kind == AccountKind.STAFF else "",
    )
    return Issued(
        access_token=issued.token,
        expires_in=issued.expires_in,
        refresh_token=refresh,
        account_id=account.id,
        role=account.role,
        kind=account.kind,
        locations=locations,
    )


async def renew(ctx: Identity, refresh_token: str) -> Issued:
    """Swap a refresh token for a new access token and a new refresh token (rotation)."""
    now = ctx.clock()
    presented = digest(refresh_token)
    issued: Issued | None = None
    async with ctx.service.db.transaction() as session:
        live = await session_store.rotate(session, presented, now, ctx.sessions)
        if live is None:
            if await session_store.was_replayed(session, presented, now):
                await audit.record(session, audit.Action.REFRESH_REUSED)
        else:
            account = await repository.account_by_id(session, live.account_id)
            if account is not None and account.active:
                locations = [
                    loc.as_event()
                    for loc in await repository.authorised_locations(session, account.id)
                ]
                issued = await issue(ctx, session, account, locations, now, session_id=live.id)
    if issued is None:  # raised after the commit: a replay's revocation must stand
        raise session_ended()
    return issued


async def sign_out(ctx: Identity, account_id: UUID, session_id: str) -> None:
    """End the session the access token was issued for; its refresh token stops working."""
    async with ctx.service.db.transaction() as session:
        if session_id:
            await session_store.revoke_session(
                session, UUID(session_id), ctx.clock(), RevokedBecause.SIGNED_OUT
            )
        await audit.record(session, audit.Action.SIGNED_OUT, account_id=account_id)


async def is_live(service: Service, session_id: UUID, now: datetime) -> bool:
    """Whether the session a token was minted for has not ended (signed out, reset,
    disabled, timed out)."""
    async with service.db.transaction() as session:
        return await session_store.is_live(session, session_id, now)
