"""The site's waiting room (ADR 0052): a gate in front of the order journey, its queue page,
the API's 503, and the keeper that lets the next visitors in.

Cost per request: a visitor already let in carries that fact in their server-side session,
so a page in the journey reads nothing more from the database; their place is confirmed at
most once a heartbeat (a minute by default, when the session is rewritten anyway). The API,
which has no session, is answered from what this replica last measured (every tick), so an
order POST costs no extra round trip either while nobody queues. When people do, an API
caller gets a place too, found again by a hash of their account id, and the 503's
Retry-After says when their turn is likely; once let in, the ticket is used up by that one
order. Only arriving, waiting and leaving touch the queue table.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Receive, Scope, Send

from services.orders.domain import waiting_room as rules
from services.orders.settings import OrdersSettings
from services.orders.store import waiting_room as queue
from shared.http.auth import TokenVerifier
from shared.http.problems import Problem, problem_response
from shared.metrics import (
    WAITING_ROOM_ADMITTED,
    WAITING_ROOM_LIMIT,
    WAITING_ROOM_WAIT,
    WAITING_ROOM_WAITING,
)
from shared.periodic import Periodic
from shared.runtime import Service
from shared.store.db import Database
from shared.web import Site, WebSession, web_session
from shared.web.sessions import STATE_KEY

#: The session's note of the visitor's ticket: {"seq", "admitted", "checked"}.
TICKET = "waiting_room"
#: Where to take the visitor once they are let in (a path on this site).
NEXT = "waiting_room_next"
PAGE = "/waiting-room"
#: The API the waiting room answers with 503 when newcomers must queue.
GUARDED_API = ("POST", "/api/orders")


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
            per_minute=rules.admissions_per_minute(0, self.limit, self.rate)
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

    async def enter(self, session: WebSession) -> queue.Ticket:
        """The visitor's ticket, taking one if they have none (or theirs has lapsed)."""
        held: dict[str, Any] | None = session.get(TICKET)
        now = time.time()
        if held and held["admitted"] and now - held["checked"] < self.heartbeat:
            return queue.Ticket(int(held["seq"]), queue.ADMITTED)
        async with self.db.transaction() as tx:
            ticket = await queue.check(tx, int(held["seq"])) if held else None
            if ticket is None or ticket.state == queue.LEFT:
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

    async def leave(self, session: WebSession) -> None:
        """The visitor has finished or signed out: their place goes to the next in line."""
        held = session.get(TICKET)
        if held is None:
            return
        session.pop(TICKET)
        async with self.db.transaction() as tx:
            await queue.leave(tx, int(held["seq"]))

    async def tick(self) -> int:
        """Time out the quiet, let in the next, measure the room (a Periodic job). Rounds on
        one replica run one at a time, so an older ranking never replaces a newer one."""
        async with self._ticking, self.db.transaction() as tx:
            kept = await queue.keep(
                tx, self.limit, self.rate, self.waiting_idle, self.admitted_idle
            )
        self._observe(kept.admitted)
        per_minute = rules.admissions_per_minute(
            kept.admitted_last_5_minutes, self.limit, self.rate
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
        if ticket.seq <= self._newest:
            return bisect.bisect_left(self._queue, ticket.seq) + 1
        async with self.db.transaction() as tx:
            between = await queue.waiting_between(tx, self._newest, ticket.seq)
        return len(self._queue) + between + 1

    def _observe(self, admitted: list[queue.Admitted]) -> None:
        for one in admitted:
            self._wait.observe(max(0.0, one.waited_seconds))


class WaitingRoomMiddleware:
    """Sends visitors without a place from the journey's pages to the queue page; frees a
    place when the journey ends; answers the order API with 503 while newcomers queue."""

    def __init__(
        self, app: ASGIApp, room: WaitingRoom, verifier: Callable[[], TokenVerifier]
    ) -> None:
        self.app = app
        self.room = room
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.room.enabled:
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if (method, path) == GUARDED_API and self.room.state.full(self.room.limit):
            caller = self._caller(scope)
            retry = await self.room.api_turn(caller) if caller else None
            if retry is not None:
                await _busy(path, retry)(scope, receive, send)
                return
        if rules.is_guarded(path):
            session: WebSession = scope["state"][STATE_KEY]
            ticket = await self.room.enter(session)
            if ticket.state != queue.ADMITTED:
                query = scope.get("query_string", b"").decode("latin-1")
                wanted = f"{path}?{query}" if query and method in ("GET", "HEAD") else path
                session[NEXT] = wanted
                await RedirectResponse(PAGE, status_code=303)(scope, receive, send)
                return
        elif rules.ends_journey(path, method):
            await self.room.leave(scope["state"][STATE_KEY])
        await self.app(scope, receive, send)

    def _caller(self, scope: Scope) -> str | None:
        """Who is calling the API, as a SHA-256 of their account id; None without a valid
        token (the route then answers 401 as usual)."""
        for key, value in scope.get("headers") or []:
            if key == b"authorization" and value[:7].lower() == b"bearer ":
                try:
                    principal = self.verifier().verify(value[7:].decode("latin-1").strip())
                except (Problem, ValueError):
                    return None
                return hashlib.sha256(str(principal.account_id).encode()).hexdigest()
        return None


def _busy(path: str, retry: int) -> Response:
    return problem_response(
        503,
        "waiting-room",
        "Too many people are ordering right now",
        "Orders are being taken in the order people arrived, and you have a place in the "
        "queue. Try again after the number of seconds in the Retry-After header.",
        path,
        headers={"Retry-After": str(retry)},
    )


def _safe_next(value: Any) -> str:
    """Only a path on this site (never //host or a full URL), else the journey's start."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return value
    return "/sign-in"


def router(room: WaitingRoom, pages: Site) -> APIRouter:
    web = APIRouter(include_in_schema=False)

    @web.get(PAGE)
    async def waiting(request: Request, refresh: str = "on") -> Response:
        session = web_session(request)
        if not room.enabled:
            return RedirectResponse("/sign-in", status_code=303)
        ticket = await room.enter(session)
        if ticket.state == queue.ADMITTED:
            return RedirectResponse(_safe_next(session.pop(NEXT, None)), status_code=303)
        position = await room.position(ticket)
        minutes = rules.estimated_wait_minutes(position, room.state.per_minute)
        every = rules.refresh_seconds(minutes)
        refreshing = refresh != "off"
        return pages.render(
            request,
            "waiting_room.html",
            title="You are in a queue",
            place=f"{position:,}",
            wait=rules.wait_text(minutes),
            refreshing=refreshing,
            refresh_seconds=every,
            idle_minutes=int(room.waiting_idle.total_seconds() // 60),
            check_url=PAGE if refreshing else f"{PAGE}?refresh=off",
            # A timed reload, without JavaScript (the CSP allows no inline script) and
            # with a way to turn it off (WCAG 2.2.1): the Refresh header, as browsers
            # honour it, rather than a <meta> element.
            headers={"Refresh": str(every)} if refreshing else None,
        )

    return web


def install(app: FastAPI, service: Service, settings: OrdersSettings, pages: Site) -> WaitingRoom:
    """Put the waiting room on the orders app. Call before the web foundation's ``install``,
    so the gate runs inside the session middleware and can read the visitor's session."""
    room = WaitingRoom(service.db, settings, service.name)
    app.state.waiting_room = room
    app.include_router(router(room, pages))
    app.add_middleware(WaitingRoomMiddleware, room=room, verifier=service.verifier)
    if room.enabled:
        every = timedelta(seconds=settings.waiting_room_tick_seconds)
        service.attach(Periodic("waiting-room", every, room.tick))
    return room
