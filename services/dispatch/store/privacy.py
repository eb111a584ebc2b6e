"""What dispatch holds about an account, table by table, for a copy of its data."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Table, delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.store.ledger import packed_note
from services.dispatch.store.tables import (
    anonymised_accounts,
    courier_callbacks,
    dispatch_orders,
    metadata,
    restricted_accounts,
    shipments,
    stock_ledger,
)
from shared.store.rows import rows_by_table
from shared.subject_access import TRANSPORT_NOT_IN_THE_COPY, outbox_mentioning

#: The tables a copy reads (the outbox was missing: what was sent to the courier).
COPIED = frozenset(
    {
        "dispatch_orders",
        "stock_ledger",
        "shipments",
        "courier_callbacks",
        "anonymised_accounts",
        "restricted_accounts",
        "outbox",
    }
)
#: The tables it leaves out, and why.
NOT_IN_THE_COPY = TRANSPORT_NOT_IN_THE_COPY | {
    "stock": "The warehouse's totals of badges and leaflets: about no one.",
    "portal_closure": "When the portal closed: about no one.",
}


async def held_about(session: AsyncSession, account_id: UUID) -> dict[str, list[dict[str, Any]]]:
    """Every row about the account's orders, every column, by table: stock held for them,
    shipments, and what the courier reported."""
    its_orders = select(dispatch_orders.c.order_id).where(
        dispatch_orders.c.account_id == account_id
    )
    its_shipments = select(shipments.c.reference).where(shipments.c.order_id.in_(its_orders))
    order_ids = [str(o) for o in (await session.execute(its_orders)).scalars()]
    references = list((await session.execute(its_shipments)).scalars())
    return await rows_by_table(
        session,
        {
            "dispatch_orders": select(dispatch_orders).where(
                dispatch_orders.c.account_id == account_id
            ),
            "stock_ledger": select(stock_ledger)
            .where(
                or_(
                    stock_ledger.c.order_id.in_(its_orders),
                    # Leaflets packed for its shipments name the shipment instead.
                    stock_ledger.c.note.in_(
                        select(packed_note("") + shipments.c.reference).where(
                            shipments.c.order_id.in_(its_orders)
                        )
                    ),
                )
            )
            .order_by(stock_ledger.c.id),
            "shipments": select(shipments).where(shipments.c.order_id.in_(its_orders)),
            "courier_callbacks": select(courier_callbacks)
            .where(courier_callbacks.c.shipment_reference.in_(its_shipments))
            .order_by(courier_callbacks.c.id),
            "anonymised_accounts": select(anonymised_accounts).where(
                anonymised_accounts.c.account_id == account_id
            ),
            "restricted_accounts": select(restricted_accounts).where(
                restricted_accounts.c.account_id == account_id
            ),
            # What was sent about the orders: to the other services, and to the courier (its
            # CourierHandoff names the shipment, not the order), while the rows are kept.
            "outbox": outbox_mentioning(metadata, [str(account_id), *order_ids, *references]),
        },
    )


async def _listed(session: AsyncSession, table: Table, account_id: UUID | None) -> bool:
    if account_id is None:
        return False
    found = await session.execute(
        select(table.c.account_id).where(table.c.account_id == account_id)
    )
    return found.first() is not None


async def is_anonymised(session: AsyncSession, account_id: UUID | None) -> bool:
    """Whether the account's holder asked to be forgotten (AccountAnonymised was seen)."""
    return await _listed(session, anonymised_accounts, account_id)


async def is_restricted(session: AsyncSession, account_id: UUID | None) -> bool:
    """Whether the holder restricted the use of their data (nothing may be handed over)."""
    return await _listed(session, restricted_accounts, account_id)


async def remember_anonymised(session: AsyncSession, account_id: UUID) -> None:
    await session.execute(
        insert(anonymised_accounts).values(account_id=account_id).on_conflict_do_nothing()
    )


async def restrict(session: AsyncSession, account_id: UUID) -> None:
    await session.execute(
        insert(restricted_accounts).values(account_id=account_id).on_conflict_do_nothing()
    )


async def lift(session: AsyncSession, account_id: UUID) -> None:
    await session.execute(
        delete(restricted_accounts).where(restricted_accounts.c.account_id == account_id)
    )
