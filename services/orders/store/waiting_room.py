"""The waiting room's queue in orders' PostgreSQL (ADR 0052): tickets in arrival order.

Why the database: it is shared by every orders replica and survives their restarts, and the
identity column gives one arrival order that all replicas agree on. Admission is one UPDATE
that lets in the lowest waiting tickets up to the free places, taken under a transaction-level
advisory lock, so two replicas admitting at once cannot overfill the journey. An arrival takes
the same lock *before* its ticket number is drawn, so ticket order is the order in which
arrivals committed and an admission always sees every earlier ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from asyncpg import Record
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql import ColumnElement

from services.orders.domain.waiting_room import (
    OBSERVED_MINUTES,
    RATE_WINDOW_SECONDS,
    free_places,
)
from services.orders.store.tables import waiting_room
from shared.store import prepared

#: The advisory lock that serialises arrivals and admissions (any fixed 64-bit number).
LOCK_KEY = 0x_CA7E_0052
#: Tickets that have left are kept this long, so the admission rate can be measured.
KEEP_LEFT = timedelta(hours=1)

WAITING, ADMITTED, LEFT = "waiting", "admitted", "left"


@dataclass(frozen=True, order=True)
class Admitted:
    seq: int
    waited_seconds: float


@dataclass(frozen=True, order=True)
class Ticket:
    seq: int
    state: str  # waiting | admitted | left (gone: the visitor must join again)


async def _lock(session: AsyncSession, *, wait: bool) -> bool:
    if wait:
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        return True
    got = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    return bool(got)


async def _count(session: AsyncSession, *conditions: ColumnElement[bool]) -> int:
    found = await session.scalar(select(func.count()).select_from(waiting_room).where(*conditions))
    return int(found or 0)


async def admit(session: AsyncSession, limit: int, admit_per_second: float) -> list[Admitted]:
    """Let in the lowest waiting tickets up to the free places (caller holds the lock)."""
    admitted = await _count(session, waiting_room.c.state == ADMITTED)
    recent = 0
    if admit_per_second > 0:
        recent = await _count(
            session,
            waiting_room.c.admitted_at > func.now() - timedelta(seconds=RATE_WINDOW_SECONDS),
        )
    places = free_places(limit, admitted, admit_per_second, recent)
    if places == 0:
        return []
    lowest = (
        select(waiting_room.c.seq)
        .where(waiting_room.c.state == WAITING)
        .order_by(waiting_room.c.seq)
        .limit(places)
        .scalar_subquery()
    )
    rows = await session.execute(
        update(waiting_room)
        .where(waiting_room.c.seq.in_(lowest))
        .values(state=ADMITTED, admitted_at=func.now(), last_seen=func.now())
        .returning(
            waiting_room.c.seq,
            func.extract("epoch", func.now() - waiting_room.c.arrived_at),
        )
    )
    return sorted(Admitted(int(seq), float(waited)) for seq, waited in rows)


async def arrive(
    session: AsyncSession, limit: int, admit_per_second: float, api_caller: str | None = None
) -> tuple[Ticket, list[Admitted]]:
    """A newcomer takes the next ticket; whoever fits is let in at once (they included, when
    nobody is ahead of them). Returns their ticket and everyone this admitted."""
    await _lock(session, wait=True)
    seq = int(
        await session.scalar(
            waiting_room.insert()
            .values(state=WAITING, api_caller=api_caller)
            .returning(waiting_room.c.seq)
        )
        or 0
    )
    admitted = await admit(session, limit, admit_per_second)
    state = ADMITTED if any(a.seq == seq for a in admitted) else WAITING
    return Ticket(seq, state), admitted


#: A ticket's state, marking its holder as still here: one primary-key update.
_CHECK = (
    "UPDATE waiting_room SET last_seen = now() "
    "WHERE seq = $1::bigint AND state <> 'left' RETURNING state"
)
#: The visitor has gone: their place is free for the next.
_LEAVE = (
    "UPDATE waiting_room SET state = 'left', last_seen = now() "
    "WHERE seq = $1::bigint AND state <> 'left' RETURNING seq"
)


async def check(session: AsyncSession, seq: int) -> Ticket:
    """A ticket's state now, marking its holder as still here (one primary-key update).

    A waiting visitor's place is not counted here: counting the tickets ahead of the back of
    a launch-sized queue on every page check costs far more than this update, so each
    replica ranks the queue once a keeper round instead (:func:`keep`)."""
    return _ticket(seq, await prepared.fetch(session, _CHECK, seq))


async def check_alone(engine: AsyncEngine, seq: int) -> Ticket:
    """:func:`check` as a transaction of its own, in one round trip: every reload of the
    queue page runs it (hundreds a second with a launch-sized queue)."""
    return _ticket(seq, await prepared.fetch_alone(engine, _CHECK, seq))


def _ticket(seq: int, rows: list[Record]) -> Ticket:
    return Ticket(seq, str(rows[0]["state"]) if rows else LEFT)


async def api_turn(
    session: AsyncSession, api_caller: str, limit: int, admit_per_second: float
) -> tuple[Ticket, list[Admitted]]:
    """An API caller's turn: their ticket (taking one on their first call). Once admitted, the
    ticket is used up by this one request (an API order is one call, not a journey)."""
    seq = await session.scalar(
        update(waiting_room)
        .where(waiting_room.c.api_caller == api_caller, waiting_room.c.state != LEFT)
        .values(last_seen=func.now())
        .returning(waiting_room.c.seq)
    )
    if seq is None:
        ticket, admitted = await arrive(session, limit, admit_per_second, api_caller)
    else:
        ticket, admitted = await check(session, int(seq)), []
    if ticket.state == ADMITTED:
        await leave(session, ticket.seq)
    return ticket, admitted


async def waiting_between(session: AsyncSession, after: int, before: int) -> int:
    """Waiting tickets drawn after ``after`` and before ``before`` (a short, recent range)."""
    return await _count(
        session,
        waiting_room.c.state == WAITING,
        waiting_room.c.seq > after,
        waiting_room.c.seq < before,
    )


async def leave(session: AsyncSession, seq: int) -> bool:
    """The visitor has gone (signed out, or finished): their place is free for the next."""
    return bool(await prepared.fetch(session, _LEAVE, seq))


async def leave_alone(engine: AsyncEngine, seq: int) -> bool:
    """:func:`leave` as a transaction of its own, in one round trip."""
    return bool(await prepared.fetch_alone(engine, _LEAVE, seq))


@dataclass(frozen=True)
class Round:
    """One keeper round: who came in, how many timed out, and the room afterwards."""

    admitted: list[Admitted]
    expired: int
    waiting: list[int]  # the waiting tickets, in arrival order
    newest: int  # the highest ticket drawn so far (0 if none)
    in_journey: int
    #: Admissions in the last ``OBSERVED_MINUTES``, and the minutes from the
    #: first of them to now (how long they took).
    recent_admissions: int
    recent_minutes: float


async def keep(
    session: AsyncSession,
    limit: int,
    admit_per_second: float,
    waiting_idle: timedelta,
    admitted_idle: timedelta,
) -> Round:
    """Time out the visitors who have gone quiet, let in the next, and measure the room.

    If another replica is doing this right now, this one only measures: the work is done."""
    admitted: list[Admitted] = []
    expired = 0
    if await _lock(session, wait=False):
        expired = await _expire(session, WAITING, waiting_idle)
        expired += await _expire(session, ADMITTED, admitted_idle)
        admitted = await admit(session, limit, admit_per_second)
        await session.execute(
            waiting_room.delete().where(
                waiting_room.c.state == LEFT, waiting_room.c.last_seen < func.now() - KEEP_LEFT
            )
        )
    # The newest ticket and the waiting ones from one statement (one snapshot), so a ticket
    # is either ranked here or newer than ``newest``; one array rather than a row per ticket
    # decodes a launch-sized queue in milliseconds.
    ranked = select(func.array_agg(aggregate_order_by(waiting_room.c.seq, waiting_room.c.seq)))
    newest, waiting = (
        await session.execute(
            select(
                select(func.max(waiting_room.c.seq)).scalar_subquery(),
                ranked.where(waiting_room.c.state == WAITING).scalar_subquery(),
            )
        )
    ).one()
    in_journey = await _count(session, waiting_room.c.state == ADMITTED)
    recent, minutes = await _recent_admissions(session)
    return Round(
        admitted, expired, list(waiting or []), int(newest or 0), in_journey, recent, minutes
    )


async def _recent_admissions(session: AsyncSession) -> tuple[int, float]:
    since = func.now() - timedelta(minutes=OBSERVED_MINUTES)
    count, seconds = (
        await session.execute(
            select(
                func.count(),
                func.extract("epoch", func.now() - func.min(waiting_room.c.admitted_at)),
            ).where(waiting_room.c.admitted_at > since)
        )
    ).one()
    return int(count), float(seconds or 0) / 60


async def _expire(session: AsyncSession, state: str, idle: timedelta) -> int:
    result = await session.execute(
        update(waiting_room)
        .where(waiting_room.c.state == state, waiting_room.c.last_seen < func.now() - idle)
        .values(state=LEFT)
    )
    return int(getattr(result, "rowcount", 0) or 0)
