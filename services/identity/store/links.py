"""Emailed links: confirming a new account's email address, and resetting a password.

Each link's secret is stored only as its SHA-256. A link works once and until it expires;
using it is one conditional UPDATE or DELETE, so two clicks at the same moment cannot both
succeed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.store.tables import pending_registrations, reset_tokens


@dataclass(frozen=True)
class PendingRegistration:
    email: str
    kind: str
    profile: dict[str, Any]
    password_hash: str


async def add_registration(
    session: AsyncSession,
    token_hash: bytes,
    *,
    email: str,
    kind: str,
    profile: dict[str, Any],
    password_hash: str,
    expires_at: datetime,
) -> None:
    await session.execute(
        pending_registrations.insert().values(
            token_hash=token_hash,
            email=email,
            kind=kind,
            profile=profile,
            password_hash=password_hash,
            expires_at=expires_at,
        )
    )


async def take_registration(
    session: AsyncSession, token_hash: bytes, now: datetime
) -> PendingRegistration | None:
    """Remove and return the registration this link confirms, if it has not expired.

    Every other pending registration for the same email goes too: the address is now proven
    and one account is made from the link that was used.
    """
    t = pending_registrations
    row = (
        await session.execute(
            delete(t)
            .where(t.c.token_hash == token_hash, t.c.expires_at > now)
            .returning(t.c.email, t.c.kind, t.c.profile, t.c.password_hash)
        )
    ).first()
    if row is None:
        return None
    await session.execute(delete(t).where(t.c.email == row.email))
    return PendingRegistration(row.email, row.kind, row.profile, row.password_hash)


async def add_reset_token(
    session: AsyncSession, token_hash: bytes, *, email: str, expires_at: datetime
) -> None:
    """A new reset link; any earlier unused link for the same email stops working."""
    await session.execute(
        delete(reset_tokens).where(reset_tokens.c.email == email, reset_tokens.c.used_at.is_(None))
    )
    await session.execute(
        reset_tokens.insert().values(token_hash=token_hash, email=email, expires_at=expires_at)
    )


async def use_reset_token(session: AsyncSession, token_hash: bytes, now: datetime) -> str | None:
    """Mark the link used and return its email, or None if it is unknown, used or expired.

    Every other link for the same email stops working too.
    """
    t = reset_tokens
    email: str | None = (
        await session.execute(
            update(t)
            .where(t.c.token_hash == token_hash, t.c.used_at.is_(None), t.c.expires_at > now)
            .values(used_at=now)
            .returning(t.c.email)
        )
    ).scalar_one_or_none()
    if email is not None:
        await session.execute(delete(t).where(t.c.email == email, t.c.token_hash != token_hash))
    return email


async def reset_token_is_usable(session: AsyncSession, token_hash: bytes, now: datetime) -> bool:
    """For the page that asks for the new password: say early if the link is no good."""
    t = reset_tokens
    row = (
        await session.execute(
            t.select().where(
                t.c.token_hash == token_hash, t.c.used_at.is_(None), t.c.expires_at > now
            )
        )
    ).first()
    return row is not None


async def forget_expired(session: AsyncSession, now: datetime) -> int:
    """Housekeeping: expired registrations hold personal data nobody confirmed; used and
    expired reset links are no longer needed."""
    gone = await session.execute(
        delete(pending_registrations).where(pending_registrations.c.expires_at <= now)
    )
    used = await session.execute(
        delete(reset_tokens).where(
            (reset_tokens.c.expires_at <= now) | reset_tokens.c.used_at.is_not(None)
        )
    )
    return int(getattr(gone, "rowcount", 0) or 0) + int(getattr(used, "rowcount", 0) or 0)
