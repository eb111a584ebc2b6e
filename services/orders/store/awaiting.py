"""Orders accepted before identity's events about the account reached orders (ADR 0061), and
the per-account lock that keeps placing and those events' handlers from passing each other.

Placing holds the account's lock shared for its whole transaction; a handler that changes what
placing reads (the account's locations, its registration, a restriction) holds it exclusive.
So a handler either commits before placing looks, and placing sees its change, or waits until
placing has committed, and then sees the order placing left waiting.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.store.tables import awaiting_details
from shared.store import prepared

# The key of the old ``'orders-account:' || CAST(:account AS text)``, so replicas of either
# version lock alike. Each runs alone, first: what the holder reads next is then read in a
# snapshot taken after the lock was granted (a statement's snapshot is taken as it starts,
# so a read in the lock's own statement could miss what the holder it waited for committed).
_LOCK_KEY = "hashtextextended('orders-account:' || $1::text, 0)"
_SHARED = f"SELECT pg_advisory_xact_lock_shared({_LOCK_KEY})"
_EXCLUSIVE = f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"


async def lock_for_placing(session: AsyncSession, account_id: UUID) -> None:
    """Taken first in placing: many orders of one account may be placed at once."""
    await prepared.fetch(session, _SHARED, str(account_id))


async def lock_for_change(session: AsyncSession, account_id: UUID) -> None:
    """Taken first by a handler: waits for orders being placed, and holds back new ones."""
    await prepared.fetch(session, _EXCLUSIVE, str(account_id))


# What was ``wait_for_details`` is part of placing's one insert (repository.insert_order), and
# filling in and settling a waiting order part of the handlers' statements
# (repository.authorise_locations, accounts.save_registration).


async def forget_account(session: AsyncSession, account_id: UUID) -> None:
    await session.execute(
        delete(awaiting_details).where(awaiting_details.c.account_id == account_id)
    )
