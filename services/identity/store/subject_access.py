"""Subject access requests: what identity itself holds about an account, the requests, and
the parts the other services send back.

Identity's own part is read table by table with every column except the few that are
security secrets rather than information about the person (password and token hashes, the
keyed hashes of the audit trail): those open nothing for the holder and handing them out
would only help an attacker. Everything else the account's rows hold is in the copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, String, Table, delete, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.store.tables import (
    account_locations,
    account_profiles,
    account_restrictions,
    accounts,
    audit_events,
    email_outbox,
    metadata,
    pending_registrations,
    register_locations,
    reset_tokens,
    sessions,
    subject_access_contributions,
    subject_access_requests,
)
from shared.store.rows import rows_by_table
from shared.subject_access import TRANSPORT_NOT_IN_THE_COPY, outbox_mentioning

#: The tables a copy reads (emails waiting to go, a registration waiting for its link, the
#: register's rows for the account's locations and the outbox were missing).
COPIED = frozenset(
    {
        "accounts",
        "account_profiles",
        "account_locations",
        "account_restrictions",
        "sessions",
        "audit_events",
        "reset_tokens",
        "subject_access_requests",
        "email_outbox",
        "pending_registrations",
        "register_locations",
        "outbox",
    }
)
#: The tables it leaves out, and why.
NOT_IN_THE_COPY = TRANSPORT_NOT_IN_THE_COPY | {
    "subject_access_contributions": "The services' parts of copies asked for: the copy itself.",
    "throttle": "Counts of recent failed attempts under keyed hashes, gone within minutes; "
    "nothing in them can be read back.",
    "portal": "When the portal closed, and which member of staff closed it.",
}

#: Columns left out of the copy: secrets that protect the account, not facts about its holder.
SECRET_COLUMNS = frozenset(
    {"password_hash", "refresh_hash", "previous_hash", "token_hash", "subject_key", "source_key"}
)


def _readable(table: Table) -> Select[Any]:
    return select(*(c for c in table.c if c.name not in SECRET_COLUMNS))


async def held_about(session: AsyncSession, account_id: UUID) -> dict[str, list[dict[str, Any]]]:
    """Every row identity holds about the account, by table."""
    email = select(accounts.c.email).where(accounts.c.id == account_id).scalar_subquery()
    by_account = {
        "accounts": _readable(accounts).where(accounts.c.id == account_id),
        "account_profiles": _readable(account_profiles).where(
            account_profiles.c.account_id == account_id
        ),
        "account_locations": _readable(account_locations).where(
            account_locations.c.account_id == account_id
        ),
        "account_restrictions": _readable(account_restrictions).where(
            account_restrictions.c.account_id == account_id
        ),
        "sessions": _readable(sessions).where(sessions.c.account_id == account_id),
        "audit_events": _readable(audit_events).where(audit_events.c.account_id == account_id),
        "reset_tokens": _readable(reset_tokens).where(reset_tokens.c.email == email),
        "subject_access_requests": _readable(subject_access_requests).where(
            subject_access_requests.c.account_id == account_id
        ),
        # Emails not yet sent (a sent email is deleted: nothing of it is kept).
        "email_outbox": select(email_outbox)
        .where(email_outbox.c.recipient == email)
        .order_by(email_outbox.c.created_at),
        "pending_registrations": _readable(pending_registrations).where(
            pending_registrations.c.email == email
        ),
        "register_locations": select(register_locations).where(
            register_locations.c.location_id.in_(
                select(account_locations.c.location_id).where(
                    account_locations.c.account_id == account_id
                )
            )
        ),
        "outbox": outbox_mentioning(metadata, [str(account_id)]),
    }
    return await rows_by_table(session, by_account)


async def add_request(
    session: AsyncSession, request_id: UUID, account_id: UUID, requested_by: UUID
) -> None:
    await session.execute(
        subject_access_requests.insert().values(
            request_id=request_id, account_id=account_id, requested_by=requested_by
        )
    )


async def find_request(session: AsyncSession, request_id: UUID) -> dict[str, Any] | None:
    row = (
        await session.execute(
            select(subject_access_requests).where(
                subject_access_requests.c.request_id == request_id
            )
        )
    ).first()
    return None if row is None else dict(row._mapping)


async def contributions(session: AsyncSession, request_id: UUID) -> dict[str, Any]:
    """Each service's part received so far, by service name."""
    t = subject_access_contributions
    rows = await session.execute(select(t.c.service, t.c.data).where(t.c.request_id == request_id))
    return {row.service: row.data for row in rows}


async def save_contribution(
    session: AsyncSession, request_id: UUID, service: str, data: dict[str, Any]
) -> None:
    """Keep one service's part of a subject access request; a resend replaces it.

    Only while the request is there: a part that arrives after the account was anonymised
    (which forgets its requests) is someone's data with nothing to assemble it for, and was
    kept. The request's row is locked (key share) until this commits, so an anonymisation
    that deletes it waits, and then deletes this part with the others.
    """
    requested = (
        select(
            subject_access_requests.c.request_id,
            literal(service, String).label("service"),
            literal(data, JSONB).label("data"),
        )
        .where(subject_access_requests.c.request_id == request_id)
        .with_for_update(read=True, key_share=True)
    )
    stmt = insert(subject_access_contributions).from_select(
        ["request_id", "service", "data"], requested
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["request_id", "service"],
            set_={"data": stmt.excluded.data, "received_at": func.now()},
        )
    )


async def forget_account_requests(session: AsyncSession, account_id: UUID) -> None:
    """Drop the account's requests and the copies gathered for them (they are its data).

    The requests first: a part being saved holds its request's row until it commits
    (``save_contribution``), so this waits for it and the next statement, which
    sees what committed meanwhile, deletes it too.
    """
    gone = await session.scalars(
        delete(subject_access_requests)
        .where(subject_access_requests.c.account_id == account_id)
        .returning(subject_access_requests.c.request_id)
    )
    gone_ids = gone.all()
    if gone_ids:
        await session.execute(
            delete(subject_access_contributions).where(
                subject_access_contributions.c.request_id.in_(gone_ids)
            )
        )


async def forget_requests_before(session: AsyncSession, cutoff: datetime) -> int:
    """Retention: a copy is gathered to be read soon after; it is not kept beyond ``cutoff``."""
    old: Sequence[UUID] = (
        (
            await session.execute(
                select(subject_access_requests.c.request_id).where(
                    subject_access_requests.c.requested_at < cutoff
                )
            )
        )
        .scalars()
        .all()
    )
    if not old:
        return 0
    await session.execute(
        delete(subject_access_contributions).where(
            subject_access_contributions.c.request_id.in_(old)
        )
    )
    await session.execute(
        delete(subject_access_requests).where(subject_access_requests.c.request_id.in_(old))
    )
    return len(old)
