"""Placements in placement order: recorded for the allocator, decided a batch at a time,
waiting for stock, or holding a reservation an earlier-placed order may take back (ADR 0010,
ADR 0011).

Recording a placement takes no stock lock; the queries that decide placements or serve the
waitlist are only meaningful under it (the lock order is in :mod:`services.dispatch.store`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from asyncpg import Record
from sqlalchemy import Uuid, and_, func, literal, select, tuple_, update
from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.order_state import State
from services.dispatch.domain.placement_gaps import Recorded
from services.dispatch.domain.stock import BADGE
from services.dispatch.domain.waitlist import Waiting
from services.dispatch.store.ledger import AVAILABLE
from services.dispatch.store.orders import OrderRow, order_of_record
from services.dispatch.store.tables import dispatch_orders
from shared.store import prepared

# Every OrderPlaced runs it, so it goes on asyncpg's prepared statement
# (shared/store/prepared.py): through SQLAlchemy it cost several times the statement. The
# delivery is JSON text for the ``jsonb`` column.
_RECORD_PLACEMENT = """
INSERT INTO dispatch_orders AS o
    (order_id, account_id, placement_seq, quantity, delivery, correlation_id, recorded_at)
VALUES ($1::uuid, $2::uuid, $3::bigint, $4::integer, $5::jsonb, $6::varchar, clock_timestamp())
ON CONFLICT (order_id) DO UPDATE SET
    recorded_at = excluded.recorded_at,
    account_id = excluded.account_id,
    placement_seq = excluded.placement_seq,
    quantity = excluded.quantity,
    delivery = coalesce(o.delivery, excluded.delivery),
    correlation_id = excluded.correlation_id,
    updated_at = now()
WHERE o.placement_seq IS NULL
RETURNING o.order_id
"""


async def record_placement(
    session: AsyncSession,
    order_id: UUID,
    *,
    account_id: UUID,
    placement_seq: int,
    quantity: int,
    delivery: dict[str, Any],
    correlation_id: str,
) -> bool:
    """Store what OrderPlaced says, for the allocator to decide; False if it was stored
    before. A delivery already corrected by customer services stays. Takes no stock lock."""
    rows = await prepared.fetch(
        session,
        _RECORD_PLACEMENT,
        order_id,
        account_id,
        placement_seq,
        quantity,
        json.dumps(delivery),
        correlation_id[:64],
    )
    return bool(rows)


@dataclass(frozen=True)
class Undecided:
    """A recorded placement the allocator has not decided yet."""

    order: OrderRow
    #: Its account was anonymised (before or after the placement arrived).
    anonymised: bool
    #: Where it stands against the placements recorded below it (the hole check).
    recorded: Recorded
    #: Its account's holder restricted the use of their data (read with the lock, as
    #: ``orders.lock_order_to_decide`` reads it): a verified order is then held back, not
    #: handed over.
    restricted: bool


#: Failed decisions after which the allocator leaves a placement aside (see the gauge).
DECISION_ATTEMPTS = 5

#: A placement recorded and not yet decided. :func:`_lock_undecided` and
#: :data:`_ANY_UNDECIDED` say the same in their SQL text (with the attempts limit, the partial
#: index's condition): change them together.
_UNDECIDED = and_(
    dispatch_orders.c.placement_seq.is_not(None),
    ~dispatch_orders.c.placed,
)


def _lock_undecided(only: str) -> str:
    """The statement of :func:`lock_undecided`, ``only`` narrowing it to one order or not."""
    return f"""
SELECT o.order_id, o.account_id, o.placement_seq, o.quantity, o.delivery, o.correlation_id,
       o.state, o.placed, o.verified, o.closed,
       EXISTS (
           SELECT FROM anonymised_accounts AS a WHERE a.account_id = o.account_id
       ) AS anonymised,
       EXISTS (
           SELECT FROM restricted_accounts AS r WHERE r.account_id = o.account_id
       ) AS restricted,
       (
           SELECT max(below.placement_seq) FROM dispatch_orders AS below
           WHERE below.placement_seq < o.placement_seq
       ) AS previous_seq,
       extract(epoch FROM clock_timestamp() - o.recorded_at) AS age_seconds
FROM dispatch_orders AS o
WHERE o.placement_seq IS NOT NULL AND NOT o.placed
    AND o.decision_attempts < {DECISION_ATTEMPTS}{only}
ORDER BY o.placement_seq, o.order_id
LIMIT $1::integer
FOR UPDATE OF o
"""  # noqa: S608 - fixed fragments from this module, never input


# The allocator runs it on every batch, so it goes on asyncpg's prepared statement
# (shared/store/prepared.py): built and run through SQLAlchemy it cost several times the
# statement. Its WHERE is the partial index's (``ix_dispatch_orders_undecided``).
_LOCK_UNDECIDED = _lock_undecided("")
_LOCK_UNDECIDED_ONE = _lock_undecided(" AND o.order_id = $2::uuid")


async def lock_undecided(
    session: AsyncSession, limit: int, *, only: UUID | None = None
) -> list[Undecided]:
    """The earliest-placed undecided placements, locked; call it holding the stock lock.

    Each comes with the placement number recorded just below it and its age, so the
    allocator can hold one recorded after a hole (one probe of an index per placement).
    """
    if only is None:
        rows = await prepared.fetch(session, _LOCK_UNDECIDED, limit)
    else:
        rows = await prepared.fetch(session, _LOCK_UNDECIDED_ONE, limit, only)
    return [
        Undecided(
            order_of_record(r),
            bool(r["anonymised"]),
            Recorded(r["placement_seq"], r["previous_seq"], float(r["age_seconds"])),
            bool(r["restricted"]),
        )
        for r in rows
    ]


# The allocator's look before each batch, on every wake-up, so it goes on asyncpg's prepared
# statement (shared/store/prepared.py). Its WHERE is :data:`_UNDECIDED` with the attempts
# limit, as :func:`_lock_undecided` says it: change them together.
_ANY_UNDECIDED = f"""
SELECT o.order_id FROM dispatch_orders AS o
WHERE o.placement_seq IS NOT NULL AND NOT o.placed AND o.decision_attempts < {DECISION_ATTEMPTS}
LIMIT 1
"""  # noqa: S608 - a fixed fragment from this module


async def any_undecided(session: AsyncSession) -> bool:
    """Whether any placement waits for the allocator (no lock: a cheap look before taking one)."""
    return bool(await prepared.fetch(session, _ANY_UNDECIDED))


async def undecided_ids(session: AsyncSession, limit: int) -> list[UUID]:
    """Ids of the earliest undecided placements, without locking (to retry one by one)."""
    rows = await session.execute(
        select(dispatch_orders.c.order_id)
        .where(_UNDECIDED, dispatch_orders.c.decision_attempts < DECISION_ATTEMPTS)
        .order_by(dispatch_orders.c.placement_seq, dispatch_orders.c.order_id)
        .limit(limit)
    )
    return [r.order_id for r in rows]


async def note_failed_decision(session: AsyncSession, order_id: UUID) -> int:
    """Count a failed attempt to decide a placement; returns the attempts so far."""
    attempts = await session.scalar(
        update(dispatch_orders)
        .where(dispatch_orders.c.order_id == order_id)
        .values(decision_attempts=dispatch_orders.c.decision_attempts + 1)
        .returning(dispatch_orders.c.decision_attempts)
    )
    return int(attempts or 0)


@dataclass(frozen=True)
class UndecidedCount:
    #: Recorded, waiting for the allocator.
    pending: int
    #: Left aside after repeated failures: a bug to investigate, like a dead letter.
    parked: int


async def undecided_count(session: AsyncSession) -> UndecidedCount:
    parked = dispatch_orders.c.decision_attempts >= DECISION_ATTEMPTS
    pending, stuck = (
        await session.execute(
            select(
                func.count().filter(~parked),
                func.count().filter(parked),
            ).where(_UNDECIDED)
        )
    ).one()
    return UndecidedCount(int(pending), int(stuck))


# What the allocator decides a batch by, under the stock lock, on asyncpg's prepared
# statement (shared/store/prepared.py): read once a batch, and again only after a placement
# whose decision did more than reserve or waitlist it (usecases/placements.py). It reads the
# stock row ``lock_stock`` made sure of.
_DECISION_CONTEXT = f"""
SELECT {AVAILABLE} AS available,
    (SELECT min(w.placement_seq) FROM dispatch_orders AS w
     WHERE w.state = 'waitlisted' AND NOT w.closed) AS first_waiting
FROM stock WHERE item = $1::varchar
"""  # noqa: S608 - a fixed fragment from this module


def _one(rows: list[Record], what: str) -> Record:
    """The stock row a context read returns. Missing, it is the error SQLAlchemy's ``one()``
    raised before: the row is there once ``lock_stock`` has run, so its absence is a bug."""
    if not rows:
        raise NoResultFound(f"no stock row for the {what}")
    return rows[0]


async def decision_context(session: AsyncSession, item: str = BADGE) -> tuple[int, int | None]:
    """What is available, and the placement_seq at the head of the waitlist (None if empty).

    Only meaningful under the stock lock (:func:`services.dispatch.store.ledger.lock_stock`),
    which this transaction holds.
    """
    row = _one(await prepared.fetch(session, _DECISION_CONTEXT, item), "decision context")
    return int(row["available"]), row["first_waiting"]


_WAITING = and_(dispatch_orders.c.state == State.WAITLISTED, ~dispatch_orders.c.closed)
_RESERVED = and_(dispatch_orders.c.state == State.RESERVED, ~dispatch_orders.c.closed)


_WAITLIST_COLUMNS = (
    dispatch_orders.c.order_id,
    dispatch_orders.c.quantity,
    dispatch_orders.c.placement_seq,
)


def _waiting(row: Any) -> Waiting:
    return Waiting(order_id=row.order_id, quantity=row.quantity, placement_seq=row.placement_seq)


async def waitlist(
    session: AsyncSession, *, after: tuple[int, UUID] | None = None, limit: int | None = None
) -> list[Waiting]:
    """Waiting orders in placement order (the order they are served in).

    ``after`` (a placement_seq and order id) and ``limit`` read it a page at a time: a long
    waitlist is served from its head, and in strict mode reading stops at the first order
    that does not fit.
    """
    query = (
        select(*_WAITLIST_COLUMNS)
        .where(_WAITING)
        .order_by(dispatch_orders.c.placement_seq, dispatch_orders.c.order_id)
    )
    if after is not None:
        query = query.where(
            tuple_(dispatch_orders.c.placement_seq, dispatch_orders.c.order_id)
            > tuple_(literal(after[0]), literal(after[1], Uuid()))
        )
    if limit is not None:
        query = query.limit(limit)
    return [_waiting(r) for r in await session.execute(query)]


async def lock_later_reservations(session: AsyncSession, placement_seq: int) -> list[Waiting]:
    """Reservations not yet allocated of orders placed after ``placement_seq``, locked, in
    placement order: the stock a late-arriving earlier order may take back (ADR 0010)."""
    rows = await session.execute(
        select(*_WAITLIST_COLUMNS)
        .where(_RESERVED, dispatch_orders.c.placement_seq > placement_seq)
        .order_by(dispatch_orders.c.placement_seq, dispatch_orders.c.order_id)
        .with_for_update()
    )
    return [_waiting(r) for r in rows]


@dataclass(frozen=True)
class WaitlistSize:
    orders: int
    badges: int


async def waitlist_size(session: AsyncSession) -> WaitlistSize:
    orders, badges = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(dispatch_orders.c.quantity), 0)).where(
                _WAITING
            )
        )
    ).one()
    return WaitlistSize(int(orders), int(badges))
