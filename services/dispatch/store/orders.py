"""An order as dispatch sees it: what it knows of the order (its facts), its placement and
where it goes. Rows are locked in the order :mod:`services.dispatch.store` sets out: after the
stock row, before shipments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.order_state import OrderFacts, State
from services.dispatch.store.tables import dispatch_orders


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
    """The order in a ``dispatch_orders`` row."""
    return OrderRow(
        order_id=row.order_id,
        account_id=row.account_id,
        placement_seq=row.placement_seq,
        quantity=row.quantity,
        delivery=row.delivery,
        correlation_id=row.correlation_id,
        facts=OrderFacts(
            state=State(row.state),
            placed=row.placed,
            verified=row.verified,
            closed=row.closed,
        ),
    )


_LOCK_ORDER = (
    select(dispatch_orders)
    .where(dispatch_orders.c.order_id == bindparam("order_id"))
    .with_for_update()
)


async def lock_order(session: AsyncSession, order_id: UUID) -> OrderRow:
    """The order's row, locked; created empty if this is the first event about it."""
    row = (await session.execute(_LOCK_ORDER, {"order_id": order_id})).first()
    if row is None:
        await session.execute(
            insert(dispatch_orders).values(order_id=order_id).on_conflict_do_nothing()
        )
        row = (await session.execute(_LOCK_ORDER, {"order_id": order_id})).one()
    return order_of(row)


async def get_order(session: AsyncSession, order_id: UUID) -> OrderRow | None:
    """The order as last committed (for operations' checks and tests), or None if unknown."""
    row = (
        await session.execute(select(dispatch_orders).where(dispatch_orders.c.order_id == order_id))
    ).first()
    return order_of(row) if row else None


_SAVE_FACTS = (
    update(dispatch_orders)
    .where(dispatch_orders.c.order_id == bindparam("id"))
    .values(
        state=bindparam("state"),
        placed=bindparam("placed"),
        verified=bindparam("verified"),
        closed=bindparam("closed"),
        updated_at=func.now(),
    )
)


def _facts(order_id: UUID, facts: OrderFacts) -> dict[str, Any]:
    return {
        "id": order_id,
        "state": facts.state.value,
        "placed": facts.placed,
        "verified": facts.verified,
        "closed": facts.closed,
    }


async def save_facts(session: AsyncSession, order_id: UUID, facts: OrderFacts) -> None:
    await session.execute(_SAVE_FACTS, _facts(order_id, facts))


async def save_facts_many(
    session: AsyncSession, changes: Sequence[tuple[UUID, OrderFacts]]
) -> None:
    """:func:`save_facts` for several orders in one round trip."""
    await session.execute(_SAVE_FACTS, [_facts(order_id, facts) for order_id, facts in changes])


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
