"""Restrictions and objections (privacy policy, rights 3 and 4): one row per account."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.store.tables import account_restrictions


async def restrict(session: AsyncSession, account_id: UUID, ground: str, by: UUID) -> bool:
    """Record the restriction; False if the account was already restricted."""
    added = await session.execute(
        insert(account_restrictions)
        .values(account_id=account_id, ground=ground, requested_by=by)
        .on_conflict_do_nothing()
        .returning(account_restrictions.c.account_id)
    )
    return added.first() is not None


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
