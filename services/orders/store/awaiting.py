"""Orders accepted before identity's events about the account reached orders (ADR 0061), and
the per-account lock that keeps placing and those events' handlers from passing each other.

Placing holds the account's lock shared for its whole transaction; a handler that changes what
placing reads (the account's locations, its registration, a restriction) holds it exclusive.
So a handler either commits before placing looks, and placing sees its change, or waits until
placing has committed, and then sees the order placing left waiting.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.store.tables import account_holds, awaiting_details, portal_closure

_LOCK_KEY = "hashtextextended('orders-account:' || CAST(:account AS text), 0)"
_SHARED = text(f"SELECT pg_advisory_xact_lock_shared({_LOCK_KEY})")
_EXCLUSIVE = text(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")


async def lock_for_placing(session: AsyncSession, account_id: UUID) -> None:
    """Taken first in placing: many orders of one account may be placed at once."""
    await session.execute(_SHARED, {"account": str(account_id)})


async def lock_for_change(session: AsyncSession, account_id: UUID) -> None:
    """Taken first by a handler: waits for orders being placed, and holds back new ones."""
    await session.execute(_EXCLUSIVE, {"account": str(account_id)})


async def ordering_hold(session: AsyncSession, account_id: UUID) -> tuple[bool, str | None]:
    """(portal closed, why the account may not order) in one round trip, read after the lock."""
    closed = select(func.count()).select_from(portal_closure).scalar_subquery()
    reason = (
        select(account_holds.c.reason)
        .where(account_holds.c.account_id == account_id)
        .scalar_subquery()
    )
    row = (await session.execute(select(closed, reason))).one()
    return bool(row[0]), row[1]


async def wait_for_details(
    session: AsyncSession,
    order_id: UUID,
    account_id: UUID,
    *,
    deliver_to: str | None,
    email_owed: bool,
    correlation_id: str,
) -> None:
    await session.execute(
        awaiting_details.insert().values(
            order_id=order_id,
            account_id=account_id,
            deliver_to=deliver_to,
            email_owed=email_owed,
            correlation_id=correlation_id[:64],
        )
    )


async def waiting_for_delivery(session: AsyncSession, account_id: UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(awaiting_details).where(
            awaiting_details.c.account_id == account_id, awaiting_details.c.deliver_to.is_not(None)
        )
    )
    return [dict(r._mapping) for r in rows]


async def waiting_for_email(session: AsyncSession, account_id: UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(awaiting_details).where(
            awaiting_details.c.account_id == account_id, awaiting_details.c.email_owed
        )
    )
    return [dict(r._mapping) for r in rows]


async def settle(session: AsyncSession, order_id: UUID, **done: Any) -> None:
    """Record what has been filled in; forget the row once nothing is awaited."""
    await session.execute(
        awaiting_details.update().where(awaiting_details.c.order_id == order_id).values(**done)
    )
    await session.execute(
        delete(awaiting_details).where(
            awaiting_details.c.order_id == order_id,
            awaiting_details.c.deliver_to.is_(None),
            awaiting_details.c.email_owed.is_(False),
        )
    )


async def forget_account(session: AsyncSession, account_id: UUID) -> None:
    await session.execute(
        delete(awaiting_details).where(awaiting_details.c.account_id == account_id)
    )
