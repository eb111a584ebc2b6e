"""What identity has told orders about each account (AccountRegistered, AccountDetailsCorrected),
and the claim that keeps a self-registered organisation to one order."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain.order import Status
from services.orders.domain.own_address import EarlierOrder
from services.orders.store.tables import orders, organisation_orders, registered_accounts

#: The details a correction replaces.
DETAILS = ("organisation_name", "contact_name", "address_line_1", "address_line_2", "city")


class OrganisationAlreadyOrdered(Exception):
    """The account already has an order, and may place only one."""


async def save_registration(
    session: AsyncSession, account_id: UUID, values: dict[str, Any]
) -> None:
    """Keep a registration. A correction that overtook it on the bus is newer, so its details
    win over the registration's."""
    stmt = insert(registered_accounts).values(account_id=account_id, **values)
    kept = {
        column: func.coalesce(registered_accounts.c[column], stmt.excluded[column])
        for column in (*DETAILS, "postcode")
    }
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id"],
            set_={"kind": stmt.excluded.kind, "email": stmt.excluded.email, **kept},
        )
    )


async def save_correction(session: AsyncSession, account_id: UUID, values: dict[str, Any]) -> None:
    """Replace the organisation, contact and address the holder corrected."""
    stmt = insert(registered_accounts).values(account_id=account_id, **values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id"], set_={k: stmt.excluded[k] for k in values}
        )
    )


async def forget(session: AsyncSession, account_id: UUID) -> None:
    await session.execute(
        delete(registered_accounts).where(registered_accounts.c.account_id == account_id)
    )


async def lock_registration(session: AsyncSession, account_id: UUID) -> dict[str, Any] | None:
    """The account's registration, locked until the transaction ends: an account's orders
    are placed one at a time, so two top-ups cannot both see "no order waiting"."""
    row = (
        await session.execute(
            select(registered_accounts)
            .where(registered_accounts.c.account_id == account_id)
            .with_for_update()
        )
    ).first()
    return None if row is None else dict(row._mapping)


async def registered_email(session: AsyncSession, account_id: UUID) -> str | None:
    found = await session.execute(
        select(registered_accounts.c.email).where(registered_accounts.c.account_id == account_id)
    )
    return found.scalar_one_or_none()


async def registration(session: AsyncSession, account_id: UUID) -> dict[str, Any] | None:
    row = (
        await session.execute(
            select(registered_accounts).where(registered_accounts.c.account_id == account_id)
        )
    ).first()
    return None if row is None else dict(row._mapping)


async def earlier_orders(session: AsyncSession, account_id: UUID) -> list[EarlierOrder]:
    """The account's orders so far, oldest first."""
    rows = await session.execute(
        select(orders.c.reference, orders.c.status, orders.c.quantity)
        .where(orders.c.account_id == account_id)
        .order_by(orders.c.seq)
    )
    return [EarlierOrder(r.reference, Status(r.status), r.quantity) for r in rows]


async def has_claim(session: AsyncSession, account_id: UUID) -> bool:
    found = await session.execute(
        select(organisation_orders.c.order_id).where(organisation_orders.c.account_id == account_id)
    )
    return found.first() is not None


async def claim_organisation(session: AsyncSession, account_id: UUID, order_id: UUID) -> None:
    """Record the account's one order; raises OrganisationAlreadyOrdered if it has one."""
    try:
        async with session.begin_nested():
            await session.execute(
                organisation_orders.insert().values(account_id=account_id, order_id=order_id)
            )
    except IntegrityError as exc:
        raise OrganisationAlreadyOrdered from exc


async def release_organisation(session: AsyncSession, order_id: UUID) -> None:
    """A cancelled order no longer stands in the way of the organisation's next one."""
    await session.execute(
        delete(organisation_orders).where(organisation_orders.c.order_id == order_id)
    )
