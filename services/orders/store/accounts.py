"""What identity has told orders about each account (AccountRegistered, AccountDetailsCorrected),
and the claim that keeps a self-registered organisation to one order."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain.order import Status
from services.orders.domain.own_address import EarlierOrder
from services.orders.store.tables import orders, organisation_orders, registered_accounts
from shared.store import prepared

#: The details a correction replaces.
DETAILS = ("organisation_name", "contact_name", "address_line_1", "address_line_2", "city")


class OrganisationAlreadyOrdered(Exception):
    """The account already has an order, and may place only one."""


# A registration, its hold check and what it settles, in one statement after the account's
# lock (so every order placed before it is seen: ADR 0061). Nothing is kept for an anonymised
# account ('anonymised' is privacy.ANONYMISED). A correction that overtook the registration
# on the bus is newer, so its details win. Orders taken before the registration arrived that
# owe their confirmation (awaiting_details.email_owed) get its address and no longer owe it;
# their row goes once nothing else is awaited. The statement answers those orders, oldest
# first.
_REGISTER = """
WITH anonymised AS (
    SELECT EXISTS (
        SELECT FROM account_holds WHERE account_id = $1::uuid AND reason = 'anonymised'
    ) AS yes
),
saved AS (
    INSERT INTO registered_accounts AS r (
        account_id, kind, email, organisation_name, contact_name,
        address_line_1, address_line_2, city, postcode
    )
    SELECT $1::uuid, $2::varchar, $3::varchar, $4::text, $5::text,
           $6::text, $7::text, $8::text, $9::text
    FROM anonymised WHERE NOT anonymised.yes
    ON CONFLICT (account_id) DO UPDATE SET
        kind = excluded.kind,
        email = excluded.email,
        organisation_name = coalesce(r.organisation_name, excluded.organisation_name),
        contact_name = coalesce(r.contact_name, excluded.contact_name),
        address_line_1 = coalesce(r.address_line_1, excluded.address_line_1),
        address_line_2 = coalesce(r.address_line_2, excluded.address_line_2),
        city = coalesce(r.city, excluded.city),
        postcode = coalesce(r.postcode, excluded.postcode)
),
confirmed AS (
    UPDATE orders SET notify_email = $3::varchar
    FROM awaiting_details w, anonymised
    WHERE w.account_id = $1::uuid AND w.email_owed AND orders.id = w.order_id
      AND NOT anonymised.yes AND $3::varchar <> ''
    RETURNING orders.id, orders.seq, orders.reference, orders.quantity, orders.status,
              orders.account_kind, orders.top_up
),
settled AS (
    DELETE FROM awaiting_details w USING confirmed c
    WHERE w.order_id = c.id AND w.deliver_to IS NULL
),
still_waiting AS (
    UPDATE awaiting_details w SET email_owed = false FROM confirmed c
    WHERE w.order_id = c.id AND w.deliver_to IS NOT NULL
)
SELECT reference, quantity, status, account_kind, top_up FROM confirmed ORDER BY seq
"""

#: What a registration keeps, in the statement's order.
REGISTERED = (
    "kind",
    "email",
    "organisation_name",
    "contact_name",
    "address_line_1",
    "address_line_2",
    "city",
    "postcode",
)


async def save_registration(
    session: AsyncSession, account_id: UUID, values: dict[str, Any]
) -> list[dict[str, Any]]:
    """Keep a registration, unless the account was anonymised, and give its email to the
    orders waiting for it; those orders (reference, quantity, status, account_kind, top_up),
    oldest first. One statement: run it after the account's lock."""
    rows = await prepared.fetch(
        session, _REGISTER, account_id, *(values[column] for column in REGISTERED)
    )
    return [dict(row) for row in rows]


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


async def release_organisation(session: AsyncSession, order_id: UUID) -> None:
    """A cancelled order no longer stands in the way of the organisation's next one."""
    await session.execute(
        delete(organisation_orders).where(organisation_orders.c.order_id == order_id)
    )
