"""What orders holds about an account, table by table, for a copy of its data."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.store.tables import (
    authorised_locations,
    location_orders,
    order_lines,
    orders,
    status_history,
)
from shared.store.rows import rows_by_table


def account_orders(account_id: UUID) -> Any:
    """The ids of the account's orders, as a subquery."""
    return select(orders.c.id).where(orders.c.account_id == account_id)


async def held_about(session: AsyncSession, account_id: UUID) -> dict[str, list[dict[str, Any]]]:
    """Every row about the account or its orders, every column, by table."""
    its_orders = account_orders(account_id)
    return await rows_by_table(
        session,
        {
            "orders": select(orders).where(orders.c.account_id == account_id),
            "order_lines": select(order_lines).where(order_lines.c.order_id.in_(its_orders)),
            "location_orders": select(location_orders).where(
                location_orders.c.order_id.in_(its_orders)
            ),
            "status_history": select(status_history)
            .where(status_history.c.order_id.in_(its_orders))
            .order_by(status_history.c.id),
            "authorised_locations": select(authorised_locations).where(
                authorised_locations.c.account_id == account_id
            ),
        },
    )
