"""Removing who held an account from everything identity keeps (privacy policy: deletion).

The account row stays, disabled, under a placeholder address nobody can receive, so the
audit trail and other services' records still refer to something; its password, profile,
reset links, unconfirmed registrations, queued email, copies of its data and the published
events that named it go.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.store import repository
from services.identity.store.subject_access import forget_account_requests
from services.identity.store.tables import accounts, pending_registrations, reset_tokens
from shared.store.forget import forget_emails_to, forget_published_events


async def erase_account(
    session: AsyncSession, account_id: UUID, *, outbox: Table, email_outbox: Table
) -> bool:
    """Anonymise the account and everything tied to it; False if there is no such account."""
    email = (
        await session.execute(
            select(accounts.c.email).where(accounts.c.id == account_id).with_for_update()
        )
    ).scalar_one_or_none()
    if email is None or not await repository.anonymise(session, account_id):
        return False
    await session.execute(delete(reset_tokens).where(reset_tokens.c.email == email))
    await session.execute(
        delete(pending_registrations).where(pending_registrations.c.email == email)
    )
    await forget_emails_to(session, email_outbox, email)
    await forget_account_requests(session, account_id)
    await forget_published_events(session, outbox, [str(account_id), email])
    return True
