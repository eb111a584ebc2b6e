"""What orders holds about an account, table by table, for a copy of its data."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Text, cast, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain.order import NOT_YET_SENT
from services.orders.store.tables import (
    account_holds,
    authorised_locations,
    awaiting_details,
    email_outbox,
    location_orders,
    metadata,
    order_lines,
    orders,
    organisation_orders,
    portal_closure,
    registered_accounts,
    status_history,
    waiting_room,
    web_sessions,
)
from shared.store.rows import rows_by_table
from shared.subject_access import TRANSPORT_NOT_IN_THE_COPY, outbox_mentioning

#: The tables a copy reads (emails waiting to go, orders waiting for details, the waiting
#: room, site sessions and the outbox were missing).
COPIED = frozenset(
    {
        "orders",
        "order_lines",
        "location_orders",
        "status_history",
        "authorised_locations",
        "account_holds",
        "registered_accounts",
        "organisation_orders",
        "awaiting_details",
        "email_outbox",
        "waiting_room",
        "web_sessions",
        "outbox",
    }
)
#: The tables it leaves out, and why.
NOT_IN_THE_COPY = TRANSPORT_NOT_IN_THE_COPY | {
    "portal_closure": "When the portal closed: about no one.",
}


def account_orders(account_id: UUID) -> Any:
    """The ids of the account's orders, as a subquery."""
    return select(orders.c.id).where(orders.c.account_id == account_id)


async def held_about(session: AsyncSession, account_id: UUID) -> dict[str, list[dict[str, Any]]]:
    """Every row about the account or its orders, every column, by table."""
    its_orders = account_orders(account_id)
    order_ids = [str(o) for o in (await session.execute(its_orders)).scalars()]
    addresses = await email_addresses(session, account_id)
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
            "account_holds": select(account_holds).where(account_holds.c.account_id == account_id),
            "registered_accounts": select(registered_accounts).where(
                registered_accounts.c.account_id == account_id
            ),
            "organisation_orders": select(organisation_orders).where(
                organisation_orders.c.account_id == account_id
            ),
            "awaiting_details": select(awaiting_details).where(
                awaiting_details.c.account_id == account_id
            ),
            # Emails not yet sent (a sent email is deleted: nothing of it is kept).
            "email_outbox": select(email_outbox)
            .where(email_outbox.c.recipient.in_(sorted(addresses) or [""]))
            .order_by(email_outbox.c.created_at),
            "waiting_room": select(waiting_room).where(
                waiting_room.c.api_caller == hashlib.sha256(str(account_id).encode()).hexdigest()
            ),
            "web_sessions": select(web_sessions).where(
                cast(web_sessions.c.data, Text).contains(str(account_id))
            ),
            "outbox": outbox_mentioning(metadata, [str(account_id), *order_ids]),
        },
    )


async def email_addresses(session: AsyncSession, account_id: UUID) -> set[str]:
    """Every address the account's emails went to: the one it registered with and those its
    orders were confirmed to."""
    registered = select(registered_accounts.c.email).where(
        registered_accounts.c.account_id == account_id
    )
    notified = select(orders.c.notify_email).where(orders.c.account_id == account_id)
    found = await session.execute(registered.union(notified))
    return {address for address in found.scalars() if address}


#: Why an account's data may not be used: restricted or objected to until lifted; anonymised
#: for good (a lifted restriction never undoes an anonymisation).
RESTRICTED = "restricted"
ANONYMISED = "anonymised"


async def hold(session: AsyncSession, account_id: UUID, reason: str) -> None:
    stmt = insert(account_holds).values(account_id=account_id, reason=reason)
    if reason == ANONYMISED:
        await session.execute(
            stmt.on_conflict_do_update(index_elements=["account_id"], set_={"reason": reason})
        )
    else:
        await session.execute(stmt.on_conflict_do_nothing())


async def release(session: AsyncSession, account_id: UUID) -> None:
    """Lift a restriction (an anonymised account stays held)."""
    await session.execute(
        delete(account_holds).where(
            account_holds.c.account_id == account_id, account_holds.c.reason == RESTRICTED
        )
    )


async def hold_on(session: AsyncSession, account_id: UUID) -> str | None:
    """Why the account may not order now, or None."""
    found = await session.execute(
        select(account_holds.c.reason).where(account_holds.c.account_id == account_id)
    )
    return found.scalar_one_or_none()


async def close_portal(session: AsyncSession, closed_at: datetime) -> None:
    await session.execute(
        insert(portal_closure).values(id=1, closed_at=closed_at).on_conflict_do_nothing()
    )


async def portal_closed(session: AsyncSession) -> bool:
    found = await session.execute(select(portal_closure.c.id))
    return found.first() is not None


#: Orders not yet with the courier: what closing the portal may cancel.


async def orders_in_flight(session: AsyncSession) -> list[UUID]:
    """Orders not yet handed to the courier, locked, in placement order."""
    rows = await session.execute(
        select(orders.c.id)
        .where(orders.c.status.in_(NOT_YET_SENT))
        .order_by(orders.c.seq)
        .with_for_update()
    )
    return list(rows.scalars())


async def lock_own_order(
    session: AsyncSession, order_id: UUID, account_id: UUID
) -> dict[str, Any] | None:
    """The account's order (status and delivery), locked; None if it is not theirs."""
    row = (
        await session.execute(
            select(orders.c.status, orders.c.delivery)
            .where(orders.c.id == order_id, orders.c.account_id == account_id)
            .with_for_update()
        )
    ).first()
    return None if row is None else dict(row._mapping)


#: What an anonymised account's orders keep of their delivery.
ANONYMISED_DELIVERY = {"recipient_name": "[anonymised]", "anonymised": True}


async def scrub_orders(session: AsyncSession, account_id: UUID) -> None:
    """Remove the personal data the account's orders hold: who receives them and where, the
    address their emails went to, the words beside their steps (a refusal's reason may name
    someone), and the details of the locations it ordered for."""
    await session.execute(
        update(orders)
        .where(orders.c.account_id == account_id)
        .values(delivery=ANONYMISED_DELIVERY, notify_email=None)
    )
    await session.execute(
        update(status_history)
        .where(status_history.c.order_id.in_(account_orders(account_id)))
        .values(detail="")
    )
    await session.execute(
        delete(authorised_locations).where(authorised_locations.c.account_id == account_id)
    )


async def set_delivery(session: AsyncSession, order_id: UUID, delivery: dict[str, Any]) -> None:
    await session.execute(update(orders).where(orders.c.id == order_id).values(delivery=delivery))
