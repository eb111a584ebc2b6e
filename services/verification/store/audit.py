"""The audit trail: who did what, when, to which order or account, and what it was before.

Rows are only ever inserted (the database refuses UPDATE, DELETE and TRUNCATE on the table).
Personal values, such as the addresses either side of a correction, go into audit_personal
beside the entry, so anonymising an account can remove them without rewriting the trail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.store.tables import audit_personal, audit_trail


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    order_id: UUID | None = None,
    account_id: UUID | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    personal_before: dict[str, Any] | None = None,
    personal_after: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Append one entry (in the caller's transaction) and return its id."""
    entry_id = int(
        await session.scalar(
            audit_trail.insert()
            .values(
                order_id=order_id,
                account_id=account_id,
                actor=actor,
                action=action,
                before=before or {},
                after=after or {},
                at=at or datetime.now(UTC),
            )
            .returning(audit_trail.c.id)
        )
        or 0
    )
    if (personal_before or personal_after) and account_id is not None:
        await session.execute(
            audit_personal.insert().values(
                audit_id=entry_id,
                account_id=account_id,
                before=personal_before,
                after=personal_after,
            )
        )
    return entry_id


async def forget_personal(session: AsyncSession, account_id: UUID) -> None:
    """Anonymisation: drop the personal values the account's entries point to."""
    await session.execute(delete(audit_personal).where(audit_personal.c.account_id == account_id))


async def entries(
    session: AsyncSession, *, order_id: UUID | None = None, account_id: UUID | None = None
) -> list[dict[str, Any]]:
    """An order's or an account's trail, oldest first, with any personal values still held."""
    query = (
        select(
            audit_trail,
            audit_personal.c.before.label("personal_before"),
            audit_personal.c.after.label("personal_after"),
        )
        .outerjoin(audit_personal, audit_personal.c.audit_id == audit_trail.c.id)
        .order_by(audit_trail.c.id)
    )
    if order_id is not None:
        query = query.where(audit_trail.c.order_id == order_id)
    if account_id is not None:
        query = query.where(audit_trail.c.account_id == account_id)
    return [row._asdict() for row in await session.execute(query)]
