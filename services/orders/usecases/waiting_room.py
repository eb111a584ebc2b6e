"""The site's waiting room (ADR 0052): the shared queue each orders replica lets visitors in
from, at the rate and up to the number the settings allow.

Cost per request: a visitor already let in carries that fact in their server-side session,
so a page in the journey reads nothing more from the database; their place is confirmed at
most once a heartbeat (a minute by default, when the session is rewritten anyway). The API,
which has no session, is answered from what this replica last measured (every tick), so an
order POST costs no extra round trip either while nobody queues. When people do, an API
caller gets a place too, found again by a hash of their account id; once let in, the ticket
is used up by that one order. Only arriving, waiting and leaving touch the queue table.

The gate in front of the pages, the queue page and the API's 503 are the site's
(``web/waiting_room.py``).
"""

from __future__ import annotations

import asyncio
import bisect
import time
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from services.orders.domain import waiting_room as rules
from services.orders.settings import OrdersSettings
from services.orders.store import waiting_room as queue
from shared.metrics import (
    WAITING_ROOM_ADMITTED,
    WAITING_ROOM_LIMIT,
    WAITING_ROOM_WAIT,
    WAITING_ROOM_WAITING,
)
from shared.store.db import Database

#: The session's note of the visitor's ticket: {"seq", "admitted", "checked"}.
TICKET = "waiting_room"


class Visit(Protocol):
    """The visitor's session, where the waiting room notes their ticket."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def __setitem__(self, key: str, value: Any) -> None: ...

    def pop(self, key: str, default: Any = None) -> Any: ...


class WaitingRoom:
    """One replica's view of the shared queue, and the operations on it."""

    def __init__(self, db: Database, settings: OrdersSettings, service_name: str) -> None:
        self.db = db
        self.limit = settings.waiting_room_limit
        self.rate = settings.waiting_room_admit_per_second
        self.heartbeat = settings.waiting_room_heartbeat_seconds
        self.waiting_idle = timedelta(minutes=settings.waiting_room_waiting_idle_minutes)
        self.admitted_idle = timedelta(minutes=settings.waiting_room_admitted_idle_minutes)
        self.state = rules.RoomState(
            per_minute=rules.admissions_per_minute(0, 0.0, self.limit, self.rate)
        )
        self._queue: list[int] = []  # the waiting tickets at the last keeper round
        self._newest = 0  # the highest ticket drawn by then
        self._ticking = asyncio.Lock()
        self._waiting = WAITING_ROOM_WAITING.labels(service=service_name)
        self._admitted = WAITING_ROOM_ADMITTED.labels(service=service_name)
        self._wait = WAITING_ROOM_WAIT.labels(service=service_name)
        WAITING_ROOM_LIMIT.labels(service=service_name).set(self.limit)

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    async def enter(self, session: Visit) -> queue.Ticket:
        """The visitor's ticket, taking one if they have none (or theirs has lapsed)."""
        held: dict[str, Any] | None = session.get(TICKET)
        now = time.time()
        if held and held["admitted"] and now - held["checked"] < self.heartbeat:
            return queue.Ticket(int(held["seq"]), queue.ADMITTED)
        # A held ticket is checked in one round trip of its own (every reload of the queue
        # page does this); only a newcomer, or one whose ticket lapsed, draws a ticket.
        ticket = await queue.check_alone(self.db.engine, int(held["seq"])) if held else None
        if ticket is None or ticket.state == queue.LEFT:
            async with self.db.transaction() as tx:
                ticket, admitted = await queue.arrive(tx, self.limit, self.rate)
            self._observe(admitted)
        admitted_now = ticket.state == queue.ADMITTED
        if admitted_now or not held or held["seq"] != ticket.seq:
            session[TICKET] = {"seq": ticket.seq, "admitted": admitted_now, "checked": now}
        return ticket

    async def api_turn(self, caller: str) -> int | None:
        """An API caller's turn: None if they may go ahead now, else seconds to wait."""
        try:
            async with self.db.transaction() as tx:
                ticket, admitted = await queue.api_turn(tx, caller, self.limit, self.rate)
        except IntegrityError:  # the same caller twice at once: the other call has the ticket
            return self.state.retry_after_seconds(1)
        self._observe(admitted)
        if ticket.state == queue.ADMITTED:
            return None
        if ticket.state == queue.LEFT:  # timed out between two calls: the next call rejoins
            return self.state.retry_after_seconds(1)
        return self.state.retry_after_seconds(await self.position(ticket))

    async def leave(self, session: Visit) -> None:
        """The visitor has finished or signed out: their place goes to the next in line."""
        held = session.get(TICKET)
        if held is None:
            return
        session.pop(TICKET)
        await queue.leave_alone(self.db.engine, int(held["seq"]))

    async def tick(self) -> int:
        """Time out the quiet, let in the next, measure the room (a Periodic job). Rounds on
        one replica run one at a time, so an older ranking never replaces a newer one."""
        async with self._ticking, self.db.transaction() as tx:
            kept = await queue.keep(
                tx, self.limit, self.rate, self.waiting_idle, self.admitted_idle
            )
        self._observe(kept.admitted)
        per_minute = rules.admissions_per_minute(
            kept.recent_admissions, kept.recent_minutes, self.limit, self.rate
        )
        self._queue, self._newest = kept.waiting, kept.newest
        self.state = rules.RoomState(len(kept.waiting), kept.in_journey, per_minute)
        self._waiting.set(len(kept.waiting))
        self._admitted.set(kept.in_journey)
        return kept.expired

    async def position(self, ticket: queue.Ticket) -> int:
        """A waiting ticket's place (1 = next in), from the queue as ranked at the last round:
        a binary search, no query. A ticket drawn since that round also counts the tickets
        drawn between, which is a short range of the index."""
        # One round's ranking throughout: a round that ends while the count below runs
        # ranks this ticket too, and its queue's length with the old count put the visitor
        # one place further back than they were.
        ranked, newest = self._queue, self._newest
        if ticket.seq <= newest:
            return bisect.bisect_left(ranked, ticket.seq) + 1
        async with self.db.transaction() as tx:
            between = await queue.waiting_between(tx, newest, ticket.seq)
        return len(ranked) + between + 1

    def _observe(self, admitted: list[queue.Admitted]) -> None:
        for one in admitted:
            self._wait.observe(max(0.0, one.waited_seconds))
