"""Queries orders runs; every function takes the caller's session (its unit of work), but
:func:`read_order` and :func:`already_ordered`, each a statement of its own."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain.order import Status, moves_from
from services.orders.store.accounts import OrganisationAlreadyOrdered
from services.orders.store.tables import (
    email_outbox,
    location_orders,
    orders,
)
from shared.email.message import EmailMessage
from shared.email.outbox import email_rows, emails_written
from shared.store import prepared
from shared.store.db import Database


class LocationAlreadyOrdered(Exception):
    """Another order already covers one of the locations."""


#: How a line with no CQC location (an order to the account's own address) is stored: the
#: line's key cannot be null.
NO_LOCATION = ""


# The locations an account may order for, and the orders that waited for one of them, in one
# statement after the account's lock (ADR 0061). Each waiting order is updated on its latest
# version (a correction from customer services committing meanwhile is either seen, or waits
# for this transaction): one still awaiting its address gets the location's, for the
# recipient it names now; one that customer services addressed keeps theirs. Its waiting row
# no longer waits for the address, and goes once nothing else is awaited. The statement
# answers those orders, oldest first, with what their OrderPlaced needs. Nothing is kept for an
# anonymised account, however late the event comes. ``$4`` false keeps details already held:
# a registration's locations are the account's first snapshot, older than any
# LocationsAuthorised that may have been consumed before it (the two travel on different
# queues).
_AUTHORISE = """
WITH anonymised AS (
    SELECT EXISTS (
        SELECT FROM account_holds WHERE account_id = $1::uuid AND reason = 'anonymised'
    ) AS yes
),
saved AS (
    INSERT INTO authorised_locations AS kept (account_id, location_id, details)
    SELECT $1::uuid, site.key, site.value FROM jsonb_each($2::jsonb) AS site, anonymised
    WHERE NOT anonymised.yes
    ON CONFLICT (account_id, location_id) DO UPDATE SET details = excluded.details
    WHERE $4::boolean
),
addressed AS (
    UPDATE orders SET delivery = CASE
        WHEN orders.delivery @> '{"awaiting": true}'
        THEN ($3::jsonb -> w.deliver_to)
             || jsonb_build_object('recipient_name', orders.delivery -> 'recipient_name')
        ELSE orders.delivery
    END
    FROM awaiting_details w, anonymised
    WHERE w.account_id = $1::uuid AND $3::jsonb ? w.deliver_to AND orders.id = w.order_id
      AND NOT anonymised.yes
    RETURNING orders.id, orders.reference, orders.account_id, orders.account_kind,
              orders.placed_at, orders.seq, orders.quantity, orders.top_up, orders.status,
              orders.delivery, w.deliver_to, w.correlation_id
),
settled AS (
    DELETE FROM awaiting_details w USING addressed a
    WHERE w.order_id = a.id AND NOT w.email_owed
),
still_waiting AS (
    UPDATE awaiting_details w SET deliver_to = NULL FROM addressed a
    WHERE w.order_id = a.id AND w.email_owed
)
SELECT a.*, (
    SELECT jsonb_agg(jsonb_build_object(
        'location_id', nullif(l.location_id, ''), 'staff_count', l.staff_count
    ))
    FROM order_lines l WHERE l.order_id = a.id
) AS lines
FROM addressed a ORDER BY a.seq
"""


async def authorise_locations(
    session: AsyncSession,
    account_id: UUID,
    details: dict[str, dict[str, Any]],
    deliveries: dict[str, dict[str, Any]],
    *,
    refresh: bool = True,
) -> list[dict[str, Any]]:
    """Keep the register ``details`` of each location (by id) the account may order for, and
    address the orders waiting for one: ``deliveries`` holds each location's delivery but its
    recipient, which the order keeps. The orders addressed, each as :func:`read_order` has it
    (its lines, not its history) with the location (``deliver_to``) and the ``correlation_id``
    it was placed with. One statement: run it after the account's lock. ``refresh`` False
    keeps the details of locations already held (a registration's older snapshot)."""
    rows = await prepared.fetch(
        session, _AUTHORISE, account_id, json.dumps(details), json.dumps(deliveries), refresh
    )
    return [dict(row) for row in rows]


# Everything placing reads, in one statement after the account's lock: whether the portal has
# closed, why the account may not order (if it may not), the email it registered with, and
# (when ``$2``) the register details of its locations by id.
_PLACING_READS = """
SELECT EXISTS (SELECT FROM portal_closure) AS closed,
       (SELECT reason FROM account_holds WHERE account_id = $1::uuid) AS held,
       (SELECT email FROM registered_accounts WHERE account_id = $1::uuid) AS email,
       (SELECT jsonb_object_agg(location_id, details) FROM authorised_locations
         WHERE account_id = $1::uuid AND $2::boolean) AS locations
"""


@dataclass(frozen=True)
class Account:
    """What placing reads about the account (after its lock, in one statement)."""

    portal_closed: bool
    #: Why the account may not order (privacy.RESTRICTED or ANONYMISED), or None.
    held: str | None
    registered_email: str | None
    #: The register details of the account's locations, by id (only when asked for).
    locations: dict[str, dict[str, Any]]


async def account_for_placing(
    session: AsyncSession, account_id: UUID, *, with_locations: bool
) -> Account:
    [row] = await prepared.fetch(session, _PLACING_READS, account_id, with_locations)
    return Account(row["closed"], row["held"], row["email"], row["locations"] or {})


# An order, its lines, its locations' claims (or its organisation's), its first step, what it
# still waits for and its confirmation email, in one statement. A claim another order holds
# is skipped (ON CONFLICT DO NOTHING, after waiting for an uncommitted one), so the statement
# answers how many it made and the caller refuses the order (rolling all of it back). Its
# status and first step are 'placed' (Status.PLACED).
_INSERT_ORDER = """
WITH placed AS (
    INSERT INTO orders (
        id, reference, account_id, account_kind, status, quantity, delivery,
        notify_email, top_up, placed_at, updated_at
    )
    VALUES ($1::uuid, $2::varchar, $3::uuid, $4::varchar, 'placed', $5::int,
            $6::jsonb, $7::varchar, $8::boolean, $9::timestamptz, $9::timestamptz)
    RETURNING seq
),
lines AS (
    INSERT INTO order_lines (order_id, location_id, staff_count)
    SELECT $1::uuid, line.location_id, line.staff_count
    FROM unnest($10::varchar[], $11::int[]) AS line(location_id, staff_count)
),
claimed AS (
    INSERT INTO location_orders (location_id, order_id)
    SELECT location_id, $1::uuid FROM unnest($12::varchar[]) AS location_id
    ON CONFLICT DO NOTHING
    RETURNING location_id
),
organisation AS (
    INSERT INTO organisation_orders (account_id, order_id)
    SELECT $3::uuid, $1::uuid WHERE $13::boolean
    ON CONFLICT DO NOTHING
    RETURNING order_id
),
first_step AS (
    INSERT INTO status_history (order_id, status, detail, occurred_at)
    VALUES ($1::uuid, 'placed', '', $9::timestamptz)
),
waiting AS (
    INSERT INTO awaiting_details (order_id, account_id, deliver_to, email_owed, correlation_id)
    SELECT $1::uuid, $3::uuid, $14::varchar, $15::boolean, $16::varchar
    WHERE $14::varchar IS NOT NULL OR $15::boolean
),
confirmation AS (
    INSERT INTO email_outbox (id, recipient, subject, body, attachments, created_at)
    SELECT id, recipient, subject, body, attachments::jsonb, clock_timestamp()
    FROM unnest($17::uuid[], $18::text[], $19::text[], $20::text[], $21::text[])
        AS email(id, recipient, subject, body, attachments)
)
SELECT (SELECT seq FROM placed) AS seq,
       (SELECT count(*) FROM claimed) AS claimed,
       EXISTS (SELECT FROM organisation) AS organisation_claimed
"""


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
    one_per_organisation: bool = False,
    awaits_delivery_to: str | None = None,
    email_owed: bool = False,
    correlation_id: str = "",
    confirmation: EmailMessage | None = None,
) -> int:
    """Store an order with its lines and claim its locations (or, if ``one_per_organisation``,
    its account's one order); returns its placement number. An order that still awaits its
    delivery location's details (``awaits_delivery_to``) or its confirmation address
    (``email_owed``) is left waiting for them with its ``correlation_id``; a
    ``confirmation`` is queued with it. One statement.

    Raises LocationAlreadyOrdered or OrganisationAlreadyOrdered.
    """
    claims = [loc for loc, _ in lines if loc]
    confirmations = [confirmation] if confirmation else []
    email_columns = email_rows(confirmations)
    [row] = await prepared.fetch(
        session,
        _INSERT_ORDER,
        order_id,
        reference,
        account_id,
        account_kind,
        quantity,
        json.dumps(delivery),
        notify_email,
        top_up,
        placed_at,
        [loc or NO_LOCATION for loc, _ in lines],
        [n for _, n in lines],
        claims,
        one_per_organisation,
        awaits_delivery_to,
        email_owed,
        correlation_id[:64],
        *email_columns,
    )
    emails_written(session, email_columns[0], confirmations)
    if row["claimed"] != len(claims):
        raise LocationAlreadyOrdered
    if one_per_organisation and not row["organisation_claimed"]:
        raise OrganisationAlreadyOrdered
    seq: int = row["seq"]
    return seq


class Recorded(NamedTuple):
    """A recorded step's order: its reference and confirmation address."""

    reference: str
    notify_email: str | None


# A step on the order's timeline and its status moved forward, in one statement: the UPDATE
# decides on the row's latest version (one waiting for a concurrent step's commit sees it),
# moving the status only from the statuses the step moves on from (``moves_from``, so a late
# step never moves it back), and the history insert follows the row it updated. Readers take
# the order and its timeline in one snapshot (read_order), so they never see one without the
# other (the race that withdrew this statement in ADR 0054).
_RECORD_STATUS = """
WITH moved AS (
    UPDATE orders SET
        status = CASE WHEN status = ANY($5::varchar[]) THEN $2::varchar ELSE status END,
        updated_at = CASE WHEN status = ANY($5::varchar[])
                          THEN $4::timestamptz ELSE updated_at END
    WHERE id = $1::uuid
    RETURNING id, reference, notify_email
),
step AS (
    INSERT INTO status_history (order_id, status, detail, occurred_at)
    SELECT id, $2::varchar, $3::text, $4::timestamptz FROM moved
)
SELECT reference, notify_email FROM moved
"""


# A dispatch's step with its email in one statement: the email is queued from a template
# whose recipient and reference are the order's, read by the step's UPDATE (two round trips
# were one each on every dispatch).
_RECORD_DISPATCH = _RECORD_STATUS.replace(
    "SELECT reference, notify_email FROM moved",
    f""", mailed AS (
    INSERT INTO {email_outbox.name} (id, recipient, subject, body, attachments, created_at)
    SELECT $6::uuid, notify_email, replace($7::text, $10::text, reference),
           replace($8::text, $10::text, reference), $9::jsonb, clock_timestamp()
    FROM moved WHERE coalesce(notify_email, '') <> ''
)
SELECT reference, notify_email FROM moved
""",  # noqa: S608 - a table name of this service's store, never input
)
if "mailed AS" not in _RECORD_DISPATCH:  # a change to the step's text left the email out
    raise RuntimeError("the dispatch step's statement lost its email")


class Dispatched(NamedTuple):
    """A dispatched order's reference and confirmation address, and the id of the email
    queued to it (None when it has no such address)."""

    reference: str
    notify_email: str | None
    email_id: UUID | None


async def record_dispatch(
    session: AsyncSession,
    order_id: UUID,
    occurred_at: datetime,
    shipment: str,
    template: EmailMessage,
    reference_slot: str,
) -> Dispatched | None:
    """:func:`record_status` for the dispatch, and in the same statement the email
    ``template`` queued to the order's confirmation address, if it has one, with its
    reference in place of ``reference_slot``; None if the order is unknown. The caller hands
    the email, filled the same way, to :func:`emails_written`."""
    [email_id], _, [subject], [body], [attachments] = email_rows([template])
    rows = await prepared.fetch(
        session,
        _RECORD_DISPATCH,
        order_id,
        Status.DISPATCHED.value,
        shipment,
        occurred_at,
        [status.value for status in moves_from(Status.DISPATCHED)],
        email_id,
        subject,
        body,
        attachments,
        reference_slot,
    )
    if not rows:
        return None
    address = rows[0]["notify_email"]
    return Dispatched(rows[0]["reference"], address, email_id if address else None)


async def record_status(
    session: AsyncSession, order_id: UUID, incoming: Status, occurred_at: datetime, detail: str = ""
) -> Recorded | None:
    """Add a step to the order's timeline and move its status forward (as ``advance``
    would); None if the order is unknown, else its reference and confirmation address."""
    rows = await prepared.fetch(
        session,
        _RECORD_STATUS,
        order_id,
        incoming.value,
        detail,
        occurred_at,
        [status.value for status in moves_from(incoming)],
    )
    return Recorded(rows[0]["reference"], rows[0]["notify_email"]) if rows else None


# The order, its lines and its timeline in one statement, so one snapshot: the status and the
# timeline shown agree even when a step commits meanwhile. One round trip, where a read-only
# REPEATABLE READ transaction of three reads took five (the confirmation page, the order's
# page and the API's status read all run it).
_READ_ORDER = """
SELECT o.*,
    ARRAY(SELECT (l.location_id, l.staff_count) FROM order_lines l
          WHERE l.order_id = o.id ORDER BY l.location_id) AS lines,
    ARRAY(SELECT (h.status, h.detail, h.occurred_at) FROM status_history h
          WHERE h.order_id = o.id ORDER BY h.occurred_at, h.id) AS history
FROM orders o WHERE o.id = $1::uuid
"""


async def read_order(db: Database, order_id: UUID) -> dict[str, Any] | None:
    """The order with its ``lines`` and ``history`` (its timeline), for a page or the API,
    read as of one moment in one statement; None if there is no such order."""
    rows = await prepared.fetch_alone(db.engine, _READ_ORDER, order_id)
    if not rows:
        return None
    order = dict(rows[0])
    order["id"], order["account_id"] = (
        UUID(bytes=order["id"].bytes),
        UUID(bytes=order["account_id"].bytes),
    )
    order["lines"] = [
        {"location_id": location_id or None, "staff_count": staff_count}
        for location_id, staff_count in order["lines"]
    ]
    order["history"] = [
        {"status": status, "detail": detail, "occurred_at": occurred_at}
        for status, detail, occurred_at in order["history"]
    ]
    return order


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


_ALREADY_ORDERED = "SELECT location_id FROM location_orders WHERE location_id = ANY($1::varchar[])"


async def already_ordered(db: Database, location_ids: Sequence[str]) -> set[str]:
    """Which of these locations an order (not cancelled) already covers: one statement of its
    own, as the locations page asks it on every view and answer."""
    if not location_ids:
        return set()
    rows = await prepared.fetch_alone(db.engine, _ALREADY_ORDERED, list(location_ids))
    return {row["location_id"] for row in rows}
