"""An order as dispatch sees it: what it knows of the order (its facts), its placement and
where it goes. Rows are locked in the order :mod:`services.dispatch.store` sets out: after the
stock row, before shipments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.order_state import OrderFacts, State
from services.dispatch.store.tables import dispatch_orders
from shared.store import prepared


@dataclass(frozen=True)
class OrderRow:
    order_id: UUID
    account_id: UUID | None
    placement_seq: int | None
    quantity: int | None
    delivery: dict[str, Any] | None
    facts: OrderFacts
    #: The correlation id OrderPlaced carried (None until it arrives).
    correlation_id: str | None = None


def order_of(row: Any) -> OrderRow:
    """The order in a ``dispatch_orders`` row (SQLAlchemy's)."""
    return order_of_record(row._mapping)


# The order's row locked and read, with whether its account is restricted, on asyncpg's
# prepared statement (shared/store/prepared.py): every event about an order takes it. FOR
# UPDATE returns the row's latest version even when the statement waited for its lock.
_LOCK_ORDER = """
SELECT o.order_id, o.account_id, o.placement_seq, o.quantity, o.delivery, o.correlation_id,
       o.state, o.placed, o.verified, o.closed,
       EXISTS (
           SELECT FROM restricted_accounts AS r WHERE r.account_id = o.account_id
       ) AS restricted
FROM dispatch_orders AS o WHERE o.order_id = $1::uuid
FOR UPDATE OF o
"""
_CREATE_ORDER = (
    "INSERT INTO dispatch_orders (order_id) VALUES ($1::uuid) ON CONFLICT (order_id) DO NOTHING"
)


@dataclass(frozen=True)
class LockedOrder:
    """An order's row, locked, and whether its account's holder restricted the use of its
    data (nothing of it may be handed to the courier)."""

    order: OrderRow
    restricted: bool


async def lock_order_to_decide(session: AsyncSession, order_id: UUID) -> LockedOrder:
    """The order's row, locked (created empty if this is the first event about it), and its
    account's restriction, in one statement when the row exists.

    Call it holding the stock lock: the restriction is read in this statement's snapshot,
    which is taken after that lock was granted, so it sees what a lifted restriction (which
    takes the stock lock before it commits) left.
    """
    rows = await prepared.fetch(session, _LOCK_ORDER, order_id)
    if not rows:
        await prepared.fetch(session, _CREATE_ORDER, order_id)
        rows = await prepared.fetch(session, _LOCK_ORDER, order_id)
    row = rows[0]
    return LockedOrder(order_of_record(row), bool(row["restricted"]))


async def lock_order(session: AsyncSession, order_id: UUID) -> OrderRow:
    """The order's row, locked; created empty if this is the first event about it (the
    statement of :func:`lock_order_to_decide`, its restriction left unread)."""
    return (await lock_order_to_decide(session, order_id)).order


def order_of_record(row: Any) -> OrderRow:
    """The order in a mapping of a ``dispatch_orders`` row's columns (an asyncpg record from
    :func:`shared.store.prepared.fetch`)."""
    return OrderRow(
        order_id=row["order_id"],
        account_id=row["account_id"],
        placement_seq=row["placement_seq"],
        quantity=row["quantity"],
        delivery=row["delivery"],
        correlation_id=row["correlation_id"],
        facts=OrderFacts(
            state=State(row["state"]),
            placed=row["placed"],
            verified=row["verified"],
            closed=row["closed"],
        ),
    )


async def get_order(session: AsyncSession, order_id: UUID) -> OrderRow | None:
    """The order as last committed (for operations' checks and tests), or None if unknown."""
    row = (
        await session.execute(select(dispatch_orders).where(dispatch_orders.c.order_id == order_id))
    ).first()
    return order_of(row) if row else None


_SAVE_FACT = (
    "UPDATE dispatch_orders SET state = $2::varchar, placed = $3::boolean,"
    " verified = $4::boolean, closed = $5::boolean, updated_at = now()"
    " WHERE order_id = $1::uuid"
)


async def save_facts(session: AsyncSession, order_id: UUID, facts: OrderFacts) -> None:
    await prepared.fetch(
        session,
        _SAVE_FACT,
        order_id,
        facts.state.value,
        facts.placed,
        facts.verified,
        facts.closed,
    )


# The allocator's plain decisions of a batch saved in one statement, on asyncpg's prepared
# statement (shared/store/prepared.py): the allocator runs it on every batch with a reserve or
# a waitlist, and through SQLAlchemy it cost several times the statement. One array per column,
# one element per order; the rows are those the allocator locked (lock_undecided).
_SAVE_FACTS_MANY = """
UPDATE dispatch_orders AS o SET
    state = f.state, placed = f.placed, verified = f.verified, closed = f.closed,
    updated_at = now()
FROM unnest($1::uuid[], $2::varchar[], $3::boolean[], $4::boolean[], $5::boolean[])
    AS f(order_id, state, placed, verified, closed)
WHERE o.order_id = f.order_id
"""


async def save_facts_many(
    session: AsyncSession, changes: Sequence[tuple[UUID, OrderFacts]]
) -> None:
    """:func:`save_facts` for several orders in one round trip.

    An order named twice keeps its last facts, as saving them one after the other would
    (one statement updates a row once).
    """
    latest = dict(changes)
    facts = list(latest.values())
    await prepared.fetch(
        session,
        _SAVE_FACTS_MANY,
        list(latest),
        [f.state.value for f in facts],
        [f.placed for f in facts],
        [f.verified for f in facts],
        [f.closed for f in facts],
    )


async def set_delivery(session: AsyncSession, order_id: UUID, delivery: dict[str, Any]) -> None:
    await session.execute(
        update(dispatch_orders)
        .where(dispatch_orders.c.order_id == order_id)
        .values(delivery=delivery, updated_at=func.now())
    )


async def lock_account_orders(session: AsyncSession, account_id: UUID) -> list[OrderRow]:
    rows = await session.execute(
        select(dispatch_orders)
        .where(dispatch_orders.c.account_id == account_id)
        .order_by(dispatch_orders.c.placement_seq)
        .with_for_update()
    )
    return [order_of(r) for r in rows]
