"""What verification holds about an account: table by table for a copy of its data, and the
writes that correct it or anonymise it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.store import audit
from services.verification.store.backoffice import account_order_ids
from services.verification.store.tables import (
    accounts,
    audit_personal,
    audit_trail,
    authorisations,
    follow_ups,
    metadata,
    notes,
    order_locations,
    orders,
)
from shared.store.rows import rows_by_table
from shared.subject_access import TRANSPORT_NOT_IN_THE_COPY, outbox_mentioning

ANONYMISED_NOTE = "(removed when the account was anonymised)"

#: The tables a copy reads (item 11 of the privacy audit: notes and follow-ups were missing).
COPIED = frozenset(
    {
        "accounts",
        "authorisations",
        "orders",
        "order_locations",
        "audit_trail",
        "audit_personal",
        "notes",
        "follow_ups",
        "outbox",
    }
)
#: The tables it leaves out, and why.
NOT_IN_THE_COPY = TRANSPORT_NOT_IN_THE_COPY | {
    "reviewers": "Customer services staff (their names), not the people whose orders they check.",
    "web_sessions": "Customer services staff's signed-in back-office sessions.",
}


async def held_about(session: AsyncSession, account_id: UUID) -> dict[str, list[dict[str, Any]]]:
    """Every row about the account or its orders, every column, by table: the checks, the
    reviewers' decisions and the audit trail of each."""
    its_orders = select(orders.c.order_id).where(orders.c.account_id == account_id)
    order_ids = [str(o) for o in (await session.execute(its_orders)).scalars()]
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
            "audit_personal": select(audit_personal)
            .where(
                (audit_personal.c.account_id == account_id)
                | audit_personal.c.audit_id.in_(
                    select(audit_trail.c.id).where(audit_trail.c.order_id.in_(its_orders))
                )
            )
            .order_by(audit_personal.c.audit_id),
            "notes": select(notes).where(notes.c.order_id.in_(its_orders)).order_by(notes.c.id),
            "follow_ups": select(follow_ups)
            .where(follow_ups.c.order_id.in_(its_orders))
            .order_by(follow_ups.c.id),
            "outbox": outbox_mentioning(metadata, [str(account_id), *order_ids]),
        },
    )


async def correct_account(
    session: AsyncSession,
    account_id: UUID,
    *,
    organisation_name: str,
    postcode: str,
    phone: str,
) -> None:
    """The holder's corrected details, for an account not already anonymised (no email); an
    empty phone leaves the one held."""
    await session.execute(
        update(accounts)
        .where(accounts.c.account_id == account_id, accounts.c.email.is_not(None))
        .values(
            organisation_name=organisation_name,
            postcode=postcode,
            **({"phone": phone} if phone else {}),
        )
    )


async def anonymise(session: AsyncSession, account_id: UUID) -> None:
    """Drop what identifies the person from the account, its orders, their notes, the audit
    trail's personal values and its locations; the decisions and the trail stay."""
    # The mark stays (a row of its own if no registration came first), so a registration or
    # locations event arriving later stores nothing again.
    await session.execute(
        insert(accounts)
        .values(account_id=account_id, kind="anonymised", anonymised=True)
        .on_conflict_do_update(
            index_elements=[accounts.c.account_id],
            set_={
                "email": None,
                "organisation_name": None,
                "postcode": None,
                "phone": None,
                "anonymised": True,
            },
        )
    )
    await session.execute(
        update(orders)
        .where(orders.c.account_id == account_id)
        .values(delivery={"anonymised": True}, names=[], postcode_key="")
    )
    await session.execute(
        update(notes)
        .where(notes.c.order_id.in_(account_order_ids(account_id)))
        .values(note=ANONYMISED_NOTE)
    )
    await audit.forget_personal(session, account_id)
    await session.execute(delete(authorisations).where(authorisations.c.account_id == account_id))
