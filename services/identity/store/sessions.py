"""Signed-in sessions and their rotating refresh tokens; every function takes the caller's
session (its unit of work)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain.sessions import RevokedBecause, SessionPolicy
from services.identity.store import audit, throttle
from services.identity.store.tables import sessions
from shared.store import outbox, prepared


@dataclass(frozen=True)
class LiveSession:
    id: UUID
    account_id: UUID


@dataclass(frozen=True)
class SignedIn:
    """What a sign-in writes beside the session it opens, in the same statement: its audit
    row (``audit.Action.SIGNED_IN``) and, cleared, the attempt counter it was admitted on
    (locked since admission; ``None`` when it counted on none)."""

    source_key: bytes
    method: str
    counter: tuple[str, bytes] | None


#: Every sign-in opens one, so it runs on asyncpg's prepared statement
#: (shared/store/prepared.py), and writes its audit row, clears its attempt counter and
#: writes the events the sign-in emitted (a first one's registration) in the same statement,
#: the sign-in's last: four round trips were one each. Data-modifying CTEs all run,
#: referenced or not, and commit or roll back with the transaction as separate statements
#: would.
_OPEN = (
    "WITH opened AS ("  # noqa: S608 - fixed fragments of this service's store
    "INSERT INTO sessions (id, account_id, refresh_hash, created_at, last_used_at, expires_at) "
    "VALUES ($1, $2, $3, $4, $4, $5)), "
    f"audited AS ({audit.INSERT.format('$6, $2, NULL, $7, $8::jsonb')}), "
    f"cleared AS ({throttle.CLEAR.format('$9', '$10')}), "
    f"written AS ({outbox.carrying_insert(11)}) "
    "SELECT 1"
)


async def open_session(
    session: AsyncSession,
    account_id: UUID,
    refresh_hash: bytes,
    now: datetime,
    policy: SessionPolicy,
    signed_in: SignedIn,
) -> UUID:
    """A new session for a sign-in, with the sign-in's audit row, its counter cleared and
    the events it emitted: the sign-in's last statement."""
    session_id = uuid.uuid4()
    scope, key = signed_in.counter or (None, None)
    await prepared.fetch(
        session,
        _OPEN,
        session_id,
        account_id,
        refresh_hash,
        now,
        policy.expires_at(now),
        audit.Action.SIGNED_IN.value,
        signed_in.source_key,
        json.dumps({"method": signed_in.method}),
        scope,
        key,
        *outbox.take_pending(session),
    )
    return session_id


async def rotate(
    session: AsyncSession, presented: bytes, now: datetime, policy: SessionPolicy
) -> LiveSession | None:
    """The live session this refresh token belongs to, locked for the caller to give it a new
    token with :func:`rotate_to`; None if it is unknown, revoked, idle too long or expired."""
    row = (
        await session.execute(
            select(
                sessions.c.id,
                sessions.c.account_id,
                sessions.c.last_used_at,
                sessions.c.expires_at,
                sessions.c.revoked_at,
            )
            .where(sessions.c.refresh_hash == presented)
            .with_for_update()
        )
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    if not policy.still_live(last_used_at=row.last_used_at, expires_at=row.expires_at, now=now):
        return None
    await session.execute(update(sessions).where(sessions.c.id == row.id).values(last_used_at=now))
    return LiveSession(row.id, row.account_id)


async def rotate_to(session: AsyncSession, session_id: UUID, replacement: bytes) -> None:
    """Give the session a new refresh token, keeping the old one's hash to spot a replay."""
    await session.execute(
        update(sessions)
        .where(sessions.c.id == session_id)
        .values(previous_hash=sessions.c.refresh_hash, refresh_hash=replacement)
    )


async def was_replayed(session: AsyncSession, presented: bytes, now: datetime) -> bool:
    """True if the token was already swapped for a newer one: a copy is being replayed, so
    the session is revoked (the thief and the owner both sign in again, and the owner notices).
    """
    return (
        await _revoke_where(
            session, sessions.c.previous_hash == presented, now, RevokedBecause.REFRESH_REUSED
        )
        > 0
    )


async def revoke_session(
    session: AsyncSession, session_id: UUID, now: datetime, reason: str
) -> UUID | None:
    """End one session; returns its account, or None if it had already ended."""
    result = await session.execute(
        update(sessions)
        .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .returning(sessions.c.account_id)
    )
    account_id: UUID | None = result.scalar_one_or_none()
    return account_id


async def revoke_all(session: AsyncSession, account_id: UUID, now: datetime, reason: str) -> int:
    """End every live session of an account (reset, disable, anonymise)."""
    return await _revoke_where(session, sessions.c.account_id == account_id, now, reason)


async def _revoke_where(
    session: AsyncSession, condition: ColumnElement[bool], now: datetime, reason: str
) -> int:
    result = await session.execute(
        update(sessions)
        .where(condition, sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .returning(sessions.c.id)
    )
    return len(result.all())


async def is_live(session: AsyncSession, session_id: UUID, now: datetime) -> bool:
    """Whether the session an access token was issued for is still open (not signed out,
    revoked or past its absolute expiry): identity refuses a live token of an ended one."""
    found = await session.scalar(
        select(sessions.c.id).where(
            sessions.c.id == session_id,
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > now,
        )
    )
    return found is not None
