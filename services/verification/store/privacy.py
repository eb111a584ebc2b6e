"""What verification holds about an account, table by table, for a copy of its data."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.store.tables import (
    accounts,
    audit_trail,
    authorisations,
    order_locations,
    orders,
)
from shared.store.rows import rows_by_table


async def held_about(session: AsyncSession, account_id: UUID) -> dict[str, list[dict[str, Any]]]:
    """Every row about the account or its orders, every column, by table: the checks, the
    reviewers' decisions and the audit trail of each."""
    its_orders = select(orders.c.order_id).where(orders.c.account_id == account_id)
    return await rows_by_table(
        session,
        {
            "accounts": select(accounts).where(accounts.c.account_id == account_id),
            "authorisations": select(authorisations).where(
                authorisations.c.account_id == account_id
            ),
            "orders": select(orders).where(orders.c.account_id == account_id),
            "order_locations": select(order_locations).where(
                order_locations.c.order_id.in_(its_orders)
            ),
            "audit_trail": select(audit_trail)
            .where(audit_trail.c.order_id.in_(its_orders))
            .order_by(audit_trail.c.id),
        },
    )
