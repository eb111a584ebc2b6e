"""The site's waiting room (ADR 0052): a gate in front of the order journey, its queue page,
the API's 503 (its Retry-After says when the caller's turn is likely), and the keeper that
lets the next visitors in. The queue itself, and what each request costs, is
:mod:`services.orders.usecases.waiting_room`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.orders.domain import waiting_room as rules
from services.orders.settings import OrdersSettings
from services.orders.store import waiting_room as queue
from services.orders.usecases.waiting_room import WaitingRoom
from shared.http.auth import TokenVerifier
from shared.http.problems import Problem, problem_response
from shared.periodic import Periodic
from shared.runtime import Service
from shared.web import Site, WebSession, web_session
from shared.web.sessions import STATE_KEY

#: Where to take the visitor once they are let in (a path on this site).
NEXT = "waiting_room_next"
PAGE = "/waiting-room"
#: The API the waiting room answers with 503 when newcomers must queue.
GUARDED_API = ("POST", "/api/orders")


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
        idle_seconds = room.waiting_idle.total_seconds()
        every = rules.refresh_seconds(position, room.state.per_minute, idle_seconds)
        refreshing = refresh != "off"
        return pages.render(
            request,
            "waiting_room.html",
            title="You are in a queue",
            place=f"{position:,}",
            wait=rules.wait_text(minutes),
            refreshing=refreshing,
            refresh_every=rules.refresh_text(every),
            idle_minutes=int(idle_seconds // 60),
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
