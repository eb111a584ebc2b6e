"""Queries orders runs; every function takes the caller's session (its unit of work), but
:func:`read_order`, which opens its own read-only snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain.order import Status, advance
from services.orders.store.tables import (
    authorised_locations,
    location_orders,
    order_lines,
    orders,
    status_history,
)
from shared.store.db import Database


class LocationAlreadyOrdered(Exception):
    """Another order already covers one of the locations."""


#: How a line with no CQC location (an order to the account's own address) is stored: the
#: line's key cannot be null.
NO_LOCATION = ""


async def save_authorised_locations(
    session: AsyncSession, account_id: UUID, locations: Sequence[dict[str, Any]]
) -> None:
    for loc in locations:
        stmt = insert(authorised_locations).values(
            account_id=account_id, location_id=loc["location_id"], details=loc
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["account_id", "location_id"], set_={"details": loc}
            )
        )


async def authorised_location_details(
    session: AsyncSession, account_id: UUID
) -> dict[str, dict[str, Any]]:
    rows = await session.execute(
        select(authorised_locations.c.location_id, authorised_locations.c.details).where(
            authorised_locations.c.account_id == account_id
        )
    )
    return {row.location_id: row.details for row in rows}


async def insert_order(
    session: AsyncSession,
    *,
    order_id: UUID,
    reference: str,
    account_id: UUID,
    account_kind: str,
    quantity: int,
    delivery: dict[str, Any],
    lines: Sequence[tuple[str | None, int]],
    placed_at: datetime,
    notify_email: str | None = None,
    top_up: bool = False,
) -> int:
    """Store an order with its lines and claim its locations; returns its placement number."""
    seq: int = (
        await session.execute(
            orders.insert()
            .values(
                id=order_id,
                reference=reference,
                account_id=account_id,
                account_kind=account_kind,
                status=Status.PLACED,
                quantity=quantity,
                delivery=delivery,
                notify_email=notify_email,
                top_up=top_up,
                placed_at=placed_at,
                updated_at=placed_at,
            )
            .returning(orders.c.seq)
        )
    ).scalar_one()
    await session.execute(
        order_lines.insert(),
        [
            {"order_id": order_id, "location_id": loc or NO_LOCATION, "staff_count": n}
            for loc, n in lines
        ],
    )
    claims = [{"location_id": loc, "order_id": order_id} for loc, _ in lines if loc]
    if claims:
        try:
            async with session.begin_nested():
                await session.execute(location_orders.insert(), claims)
        except IntegrityError as exc:
            raise LocationAlreadyOrdered from exc
    await session.execute(
        status_history.insert().values(
            order_id=order_id, status=Status.PLACED, detail="", occurred_at=placed_at
        )
    )
    return seq


async def record_status(
    session: AsyncSession, order_id: UUID, incoming: Status, occurred_at: datetime, detail: str = ""
) -> Any:
    """Add a step to the order's timeline and move its status forward; None if the order is
    unknown, else its reference and confirmation address.

    The row is locked and read first, and ``advance`` decides in Python. A single
    UPDATE ... CASE statement was tried for cost (ADR 0054); with it a browser test under load
    saw a dispatched order still shown as approved, so this form stays until that is understood.
    """
    current = (
        await session.execute(
            select(orders.c.status, orders.c.reference, orders.c.notify_email)
            .where(orders.c.id == order_id)
            .with_for_update()
        )
    ).first()
    if current is None:
        return None
    await session.execute(
        status_history.insert().values(
            order_id=order_id, status=incoming, detail=detail, occurred_at=occurred_at
        )
    )
    new = advance(Status(current.status), incoming)
    if new != current.status:
        await session.execute(
            update(orders).where(orders.c.id == order_id).values(status=new, updated_at=occurred_at)
        )
    return current


async def set_notify_email(session: AsyncSession, order_id: UUID, email: str) -> None:
    """Where the order's emails go, once the account's registration has said."""
    await session.execute(update(orders).where(orders.c.id == order_id).values(notify_email=email))


async def lock_order(session: AsyncSession, order_id: UUID) -> None:
    """Hold the order's row until the transaction ends, so no other change passes this one."""
    await session.execute(select(orders.c.id).where(orders.c.id == order_id).with_for_update())


async def read_order(db: Database, order_id: UUID) -> dict[str, Any] | None:
    """:func:`get_order` for a page or the API: its three reads in one snapshot, so the status
    and the timeline shown agree even when a step commits between them."""
    async with db.snapshot() as session:
        return await get_order(session, order_id)


async def get_order(session: AsyncSession, order_id: UUID) -> dict[str, Any] | None:
    row = (await session.execute(select(orders).where(orders.c.id == order_id))).first()
    if row is None:
        return None
    lines = await session.execute(
        select(order_lines.c.location_id, order_lines.c.staff_count).where(
            order_lines.c.order_id == order_id
        )
    )
    history = await session.execute(
        select(status_history.c.status, status_history.c.detail, status_history.c.occurred_at)
        .where(status_history.c.order_id == order_id)
        .order_by(status_history.c.occurred_at, status_history.c.id)
    )
    return {
        **row._asdict(),
        "lines": [
            {"location_id": r.location_id or None, "staff_count": r.staff_count} for r in lines
        ],
        "history": [r._asdict() for r in history],
    }


async def list_orders(session: AsyncSession, account_id: UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(
            orders.c.id,
            orders.c.reference,
            orders.c.status,
            orders.c.quantity,
            orders.c.top_up,
            orders.c.placed_at,
        )
        .where(orders.c.account_id == account_id)
        .order_by(orders.c.seq)
    )
    return [r._asdict() for r in rows]


async def lock_status(session: AsyncSession, order_id: UUID, account_id: UUID) -> Status | None:
    """The order's status, locked for this transaction; None unless it is the account's."""
    status = (
        await session.execute(
            select(orders.c.status)
            .where(orders.c.id == order_id, orders.c.account_id == account_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    return Status(status) if status is not None else None


async def release_locations(session: AsyncSession, order_id: UUID) -> None:
    """A cancelled order no longer stands in the way of a new order for its locations."""
    await session.execute(delete(location_orders).where(location_orders.c.order_id == order_id))


async def already_ordered(session: AsyncSession, location_ids: Sequence[str]) -> set[str]:
    """Which of these locations an order (not cancelled) already covers."""
    if not location_ids:
        return set()
    rows = await session.execute(
        select(location_orders.c.location_id).where(
            location_orders.c.location_id.in_(list(location_ids))
        )
    )
    return set(rows.scalars())
