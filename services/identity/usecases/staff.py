"""Staff accounts: made by an operator, never self-registered; the holder is emailed a link
to choose a password."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain import emails
from services.identity.domain.accounts import Role
from services.identity.domain.secrets import new_secret
from services.identity.settings import IdentitySettings
from services.identity.store import audit, links, repository
from services.identity.store.tables import email_outbox
from shared.email import queue_email
from shared.events import AccountKind
from shared.usecases import Conflict


async def invite(
    session: AsyncSession, settings: IdentitySettings, email: str, role: Role, now: datetime
) -> None:
    """The account, its first reset link, the invitation email and the audit row, in the
    caller's transaction; the running service's email relay sends the email."""
    account = await repository.create_account(session, email, AccountKind.STAFF, role)
    if account is None:
        raise Conflict(
            "already-registered",
            f"There is already an account for {email}.",
            title="There is already an account for this email address",
        )
    token, token_hash = new_secret()
    minutes = settings.reset_link_minutes
    await links.add_reset_token(
        session, token_hash, email=email, expires_at=now + timedelta(minutes=minutes)
    )
    base = settings.site_for(role)
    link = f"{base}/reset-password?{urlencode({'token': token})}"
    await queue_email(
        session,
        email_outbox,
        emails.staff_invitation(email, link, minutes, role, f"{base}/sign-in"),
    )
    await audit.record(session, audit.Action.STAFF_CREATED, account_id=account.id, role=role)
