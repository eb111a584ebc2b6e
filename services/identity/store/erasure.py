"""Removing who held an account from everything identity keeps (privacy policy: deletion).

The account row stays, disabled, under a placeholder address nobody can receive, so the
audit trail and other services' records still refer to something; its password, profile,
reset links, unconfirmed registrations, queued email and copies of its data go here; the
published events that named it go by ``Service.forget_published``, given the address this
returns.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.store import repository
from services.identity.store.subject_access import forget_account_requests
from services.identity.store.tables import accounts, pending_registrations, reset_tokens
from shared.store.forget import forget_emails_to


async def erase_account(
    session: AsyncSession, account_id: UUID, *, email_outbox: Table
) -> str | None:
    """Anonymise the account and everything tied to it; the address it had, or None if there
    is no such account."""
    email = (
        await session.execute(
            select(accounts.c.email).where(accounts.c.id == account_id).with_for_update()
        )
    ).scalar_one_or_none()
    if email is None or not await repository.anonymise(session, account_id):
        return None
    await session.execute(delete(reset_tokens).where(reset_tokens.c.email == email))
    await session.execute(
        delete(pending_registrations).where(pending_registrations.c.email == email)
    )
    await forget_emails_to(session, email_outbox, email)
    await forget_account_requests(session, account_id)
    return str(email)
