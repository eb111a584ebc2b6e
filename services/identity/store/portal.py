"""Closing the portal (privacy policy, retention and disposal): the closure row, and the
disposal that anonymises every account and deletes every store of email addresses identity
keeps: the register copy, queued email, links, registrations, copies of data."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import String, Table, cast, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain.accounts import AccountStatus
from services.identity.domain.sessions import RevokedBecause
from services.identity.store.tables import (
    account_profiles,
    account_restrictions,
    accounts,
    audit_events,
    pending_registrations,
    portal,
    register_locations,
    reset_tokens,
    sessions,
    subject_access_contributions,
    subject_access_requests,
    throttle,
)


async def closure(session: AsyncSession) -> dict[str, Any] | None:
    """When the portal was closed and disposed of, or None while it is open."""
    row = (await session.execute(select(portal).where(portal.c.id == 1))).first()
    return None if row is None else dict(row._mapping)


async def close(session: AsyncSession, by: UUID, now: datetime) -> bool:
    """Mark the portal closed; False if it already was."""
    added = await session.execute(
        insert(portal)
        .values(id=1, closed_at=now, closed_by=by)
        .on_conflict_do_nothing()
        .returning(portal.c.id)
    )
    return added.first() is not None


async def dispose(
    session: AsyncSession, now: datetime, *, outbox: Table, email_outbox: Table
) -> list[UUID]:
    """Disable and anonymise every account and delete every store of email addresses;
    returns the accounts anonymised (each gets its AccountAnonymised)."""
    ids = list(
        (
            await session.execute(
                update(accounts)
                .where(~accounts.c.email.like("anonymised-%@invalid"))
                .values(
                    email=literal("anonymised-")
                    + func.replace(cast(accounts.c.id, String), "-", "")
                    + literal("@invalid"),
                    password_hash=None,
                    status=AccountStatus.DISABLED,
                )
                .returning(accounts.c.id)
            )
        ).scalars()
    )
    await session.execute(
        update(sessions)
        .where(sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=RevokedBecause.ANONYMISED)
    )
    for table in (
        account_profiles,
        account_restrictions,
        pending_registrations,
        reset_tokens,
        register_locations,
        subject_access_contributions,
        subject_access_requests,
        throttle,
        email_outbox,
    ):
        await session.execute(delete(table))
    # The audit trail keeps what happened and when, not the keyed hashes of addresses.
    await session.execute(update(audit_events).values(subject_key=None, source_key=None, detail={}))
    await session.execute(delete(outbox).where(outbox.c.published_at.is_not(None)))
    await session.execute(update(portal).where(portal.c.id == 1).values(disposed_at=now))
    return ids
