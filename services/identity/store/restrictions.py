"""Restrictions and objections (privacy policy, rights 3 and 4): one row per account."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.store.tables import account_restrictions


async def restrict(
    session: AsyncSession, account_id: UUID, ground: str, by: UUID
) -> tuple[UUID | None, bool]:
    """Record the restriction: (its id, True) if it is new; (the standing one's id, False) if
    the account was already restricted (None for one recorded before restrictions had ids)."""
    added = await session.execute(
        insert(account_restrictions)
        .values(account_id=account_id, ground=ground, requested_by=by, restriction_id=uuid4())
        .on_conflict_do_nothing()
        .returning(account_restrictions.c.restriction_id)
    )
    new = added.scalar_one_or_none()
    if new is not None:
        return new, True
    standing = await session.execute(
        select(account_restrictions.c.restriction_id).where(
            account_restrictions.c.account_id == account_id
        )
    )
    return standing.scalar_one_or_none(), False


async def applied(session: AsyncSession, account_id: UUID, restriction_id: UUID) -> None:
    """Orders holds the account (AccountHoldApplied) for this restriction."""
    await session.execute(
        update(account_restrictions)
        .where(
            account_restrictions.c.account_id == account_id,
            account_restrictions.c.restriction_id == restriction_id,
        )
        .values(applied_at=func.now())
    )


async def is_applied(session: AsyncSession, restriction_id: UUID) -> bool:
    found = await session.execute(
        select(account_restrictions.c.applied_at).where(
            account_restrictions.c.restriction_id == restriction_id
        )
    )
    return found.scalar_one_or_none() is not None


async def lift(session: AsyncSession, account_id: UUID) -> bool:
    """Remove the restriction; False if there was none."""
    removed = await session.execute(
        delete(account_restrictions)
        .where(account_restrictions.c.account_id == account_id)
        .returning(account_restrictions.c.account_id)
    )
    return removed.first() is not None


async def restriction_of(session: AsyncSession, account_id: UUID) -> dict[str, Any] | None:
    row = (
        await session.execute(
            select(account_restrictions.c.ground, account_restrictions.c.restricted_at).where(
                account_restrictions.c.account_id == account_id
            )
        )
    ).first()
    return None if row is None else dict(row._mapping)
