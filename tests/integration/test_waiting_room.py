"""The site's waiting room on real PostgreSQL: first come first served under concurrency and
across replicas, admission follows the limit, the queue outlives a restart of orders, leaving
frees a place, and the order API answers 503 with Retry-After while people queue, keeping
each API caller's place."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select

from services.orders.domain.waiting_room import refresh_text
from services.orders.store import waiting_room as queue
from services.orders.store.tables import waiting_room as tickets
from services.orders.usecases.waiting_room import WaitingRoom
from shared.metrics import REGISTRY
from shared.web import WebSession
from shared.web.sessions import COOKIE
from tests.support.keys import bearer, mint
from tests.support.platform import Platform, eventually
from tests.support.round_trips import TRANSACTION, recording
from tests.support.site import submit

pytestmark = pytest.mark.integration

#: The keeper's rounds are driven by hand unless a test wants them running.
MANUAL = {"waiting_room_tick_seconds": 3600.0, "waiting_room_admit_per_second": 0.0}


@pytest.fixture(scope="module")
async def shared() -> AsyncIterator[Platform]:
    async with Platform() as p:
        yield p


@pytest.fixture
async def platform(shared: Platform) -> AsyncIterator[Platform]:
    """The module's platform; each test starts its own orders and leaves an empty queue."""
    yield shared
    running = [app.state.service for app in shared.apps["orders"] if app.state.service.started]
    if running:
        async with running[0].db.transaction() as tx:
            await tx.execute(delete(tickets))
    for service in running:
        await service.stop()


async def start_orders(platform: Platform, **settings: Any) -> FastAPI:
    await platform.start("orders", **{**MANUAL, **settings})
    return platform.apps["orders"][-1]


def room(app: FastAPI) -> WaitingRoom:
    found: WaitingRoom = app.state.waiting_room
    return found


def browser(app: FastAPI, cookies: httpx.Cookies | None = None) -> httpx.AsyncClient:
    """One visitor's browser (its session cookie) on one orders replica."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://orders.test", cookies=cookies
    )


def new_session() -> WebSession:
    return WebSession(None, {}, datetime.now(UTC) + timedelta(minutes=30))


async def queue_rows(where: FastAPI | WaitingRoom) -> list[tuple[int, str]]:
    db = where.db if isinstance(where, WaitingRoom) else room(where).db
    async with db.transaction() as tx:
        rows = await tx.execute(select(tickets.c.seq, tickets.c.state).order_by(tickets.c.seq))
    return [(int(seq), str(state)) for seq, state in rows]


def waits_observed() -> float:
    labels = {"service": "orders"}
    return REGISTRY.get_sample_value("care_waiting_room_wait_seconds_count", labels) or 0.0


def place_on(page: httpx.Response) -> int:
    found = re.search(r"Your place in the queue\s*</dt>\s*<dd[^>]*>\s*([\d,]+)", page.text)
    assert found, page.text
    return int(found.group(1).replace(",", ""))


async def test_fifty_concurrent_arrivals_are_let_in_in_ticket_order(platform: Platform) -> None:
    """50 visitors arrive at once through two replicas against a limit of 5: the five lowest
    tickets are in, and as places free up everyone else follows in ticket order."""
    replicas = [room(await start_orders(platform, waiting_room_limit=5)) for _ in range(2)]
    waits_before = waits_observed()
    sessions = [new_session() for _ in range(50)]
    arrived = await asyncio.gather(
        *(replicas[i % 2].enter(session) for i, session in enumerate(sessions))
    )
    seqs = sorted(t.seq for t in arrived)
    assert len(set(seqs)) == 50
    admitted = sorted(t.seq for t in arrived if t.state == queue.ADMITTED)
    assert admitted == seqs[:5]
    # Each waiting visitor's place is their rank among the waiting tickets, whether the
    # replica counts the newest tickets (before its next round) or ranks its last round.
    waiting = sorted(t for t in arrived if t.state == queue.WAITING)
    expected = list(range(1, 46))
    assert [await replicas[1].position(t) for t in waiting] == expected
    await replicas[0].tick()
    assert [await replicas[0].position(t) for t in waiting] == expected

    by_seq = {t.seq: s for t, s in zip(arrived, sessions, strict=True)}
    order: list[int] = list(admitted)
    inside = list(admitted)
    while len(order) < 50:
        # Two visitors leave at once on different replicas; both replicas try to admit.
        leaving, inside = inside[:2], inside[2:]
        await asyncio.gather(*(replicas[i % 2].leave(by_seq[seq]) for i, seq in enumerate(leaving)))
        await asyncio.gather(*(r.tick() for r in replicas))
        rows = dict(await queue_rows(replicas[0]))
        assert sum(1 for state in rows.values() if state == queue.ADMITTED) <= 5
        newly = sorted(s for s, state in rows.items() if state == queue.ADMITTED and s not in order)
        order.extend(newly)
        inside.extend(newly)
    assert order == seqs
    # Each admission's wait is observed once, by the replica whose statement let it in.
    assert waits_observed() - waits_before == 50
    # The pace is what the last minutes saw: 50 let in within one, not 50 spread over five.
    # Read after a round of its own: in the loop's last gather, this replica's round may have
    # read the room before the other replica's let the last visitor in.
    await replicas[0].tick()
    assert replicas[0].state.per_minute >= 50
    inside_now = [seq for seq, state in await queue_rows(replicas[0]) if state == queue.ADMITTED]

    # The gauges are one per process, and here three instances share this process, each with
    # its own keeper: one whose round began before the last leave may finish after it. What
    # must hold is that the gauges settle on the queue as it is.
    async def gauges_settled() -> bool | None:
        await asyncio.gather(*(r.tick() for r in replicas))
        waiting = REGISTRY.get_sample_value("care_waiting_room_waiting", {"service": "orders"})
        inside = REGISTRY.get_sample_value("care_waiting_room_admitted", {"service": "orders"})
        return (waiting == 0 and inside == len(inside_now)) or None

    assert await eventually(gauges_settled)


async def test_the_queue_survives_a_restart_and_follows_a_new_limit(platform: Platform) -> None:
    """Limit 2: two visitors in, three waiting at places 1-3. Orders restarts with a limit of
    4: the same visitors keep their tickets and places, and two more are let in."""
    first = await start_orders(platform, waiting_room_limit=2)
    visitors = [browser(first) for _ in range(5)]
    answers = [await v.get("/sign-in") for v in visitors]
    assert [a.status_code for a in answers] == [200, 200, 303, 303, 303]
    assert all(a.headers["location"] == "/waiting-room" for a in answers[2:])
    places = [place_on(await v.get("/waiting-room")) for v in visitors[2:]]
    assert places == [1, 2, 3]
    before = await queue_rows(first)
    cookies = [v.cookies for v in visitors]
    for v in visitors:
        await v.aclose()

    await first.state.service.stop()
    second = await start_orders(platform, waiting_room_limit=4)
    assert await queue_rows(second) == before  # the same tickets, in the same order
    visitors = [browser(second, c) for c in cookies]
    # The two already in stay in without a new ticket (their sessions say so).
    assert [(await v.get("/sign-in")).status_code for v in visitors[:2]] == [200, 200]
    await room(second).tick()  # the new limit lets the next two in, in arrival order
    back = [await v.get("/waiting-room") for v in visitors[2:]]
    assert [b.status_code for b in back] == [303, 303, 200]
    assert [b.headers.get("location") for b in back[:2]] == ["/sign-in", "/sign-in"]
    assert place_on(back[2]) == 1
    assert await queue_rows(second) == [(seq, queue.ADMITTED) for seq, _ in before[:4]] + [
        (before[4][0], queue.WAITING)
    ]
    for v in visitors:
        await v.aclose()


async def test_signing_out_or_going_quiet_frees_a_place(platform: Platform) -> None:
    app = await start_orders(
        platform,
        waiting_room_limit=1,
        waiting_room_tick_seconds=0.2,
        waiting_room_heartbeat_seconds=0.2,
        waiting_room_admitted_idle_minutes=0.02,  # 1.2 s without a request in the journey
    )
    first, second, third = browser(app), browser(app), browser(app)
    assert (await first.get("/sign-in")).status_code == 200
    assert (await second.get("/order/locations")).headers["location"] == "/waiting-room"
    assert (await third.get("/create-account")).headers["location"] == "/waiting-room"
    assert place_on(await third.get("/waiting-room")) == 2

    signed_out = await submit(first, "/sign-out")
    assert signed_out.headers["location"] == "/signed-out"

    async def let_in(visitor: httpx.AsyncClient, then: str) -> bool:
        page = await visitor.get("/waiting-room")
        return page.status_code == 303 and page.headers["location"] == then

    # The second in line goes where they were going; the third is now first.
    await eventually(lambda: let_in(second, "/order/locations"), timeout=10)
    assert place_on(await third.get("/waiting-room")) == 1
    # The second then goes quiet: after the idle time their place passes on.
    await eventually(lambda: let_in(third, "/create-account"), timeout=15)
    assert (await second.get("/sign-in")).headers["location"] == "/waiting-room"
    for v in (first, second, third):
        await v.aclose()


async def test_a_reload_in_the_queue_and_leaving_are_one_round_trip_each(
    platform: Platform,
) -> None:
    """Each reload of the queue page checks the visitor's ticket (hundreds a second with a
    launch-sized queue): one statement as its own transaction, no BEGIN or COMMIT."""
    app = await start_orders(platform, waiting_room_limit=1)
    inside, waiting = new_session(), new_session()
    assert (await room(app).enter(inside)).state == queue.ADMITTED
    assert (await room(app).enter(waiting)).state == queue.WAITING

    with recording(room(app).db.engine) as sent, sent.labelled("room"):
        assert (await room(app).enter(waiting)).state == queue.WAITING
        await room(app).leave(inside)

    # Labelled: orders' own background work (relays, the keeper) shares the engine.
    assert sent.count("room") == 2
    assert sent.count("room", TRANSACTION) == 0
    assert [state for _, state in await queue_rows(app)] == [queue.LEFT, queue.WAITING]


async def test_the_order_api_answers_503_with_retry_after_and_keeps_callers_places(
    platform: Platform,
) -> None:
    """Limit 1 with a visitor inside: a site visitor, then an API caller, then another API
    caller queue. The API answers 503 with Retry-After (problem+json) and a place for each
    caller; they are let in in arrival order, each for one order call."""
    app = await start_orders(platform, waiting_room_limit=1)
    inside, visitor = browser(app), browser(app)
    await inside.get("/sign-in")
    await visitor.get("/sign-in")
    await room(app).tick()  # this replica sees the queue
    callers = [uuid.uuid4(), uuid.uuid4()]

    async def place(caller: uuid.UUID) -> httpx.Response:
        token = bearer(mint("provider", account_id=caller, kind="non_cqc"))
        async with browser(app) as api:
            body = {"contact_name": "A", "staff_count": 5}
            return await api.post("/api/orders", json=body, headers=token)

    busy = [await place(c) for c in callers]
    assert [b.status_code for b in busy] == [503, 503]
    assert busy[0].headers["content-type"] == "application/problem+json"
    assert busy[0].json()["type"].endswith("/waiting-room")
    retry = [int(b.headers["retry-after"]) for b in busy]
    assert 5 <= retry[0] <= retry[1] <= 300  # the later caller waits at least as long
    async with browser(app) as api:  # without a token: the route's usual 401, no place
        assert (await api.post("/api/orders", json={})).status_code == 401
        assert (await api.get("/api/orders")).status_code == 401  # only placing waits
    assert [state for _, state in await queue_rows(app)] == [
        queue.ADMITTED,
        queue.WAITING,
        queue.WAITING,
        queue.WAITING,
    ]

    # The visitor inside leaves: the site visitor is next, then the first API caller.
    await submit(inside, "/sign-out")
    await room(app).tick()
    assert (await visitor.get("/waiting-room")).status_code == 303
    assert [(await place(c)).status_code for c in callers] == [503, 503]
    await submit(visitor, "/sign-out")
    await room(app).tick()
    # The first caller's turn: the call goes through to the order rules (no account set up
    # here, so not ready: 409), which uses the ticket up; the second is still waiting.
    assert (await place(callers[1])).status_code == 503
    assert (await place(callers[0])).status_code == 409
    await room(app).tick()
    assert (await place(callers[1])).status_code == 409
    await room(app).tick()  # nobody waits and the journey is empty: the API is open
    assert (await place(uuid.uuid4())).status_code == 409
    assert {state for _, state in await queue_rows(app)} == {queue.LEFT}
    for v in (inside, visitor):
        await v.aclose()


async def test_the_start_footer_and_eligibility_pages_stay_open(platform: Platform) -> None:
    app = await start_orders(platform, waiting_room_limit=1)
    async with browser(app) as inside, browser(app) as newcomer:
        await inside.get("/sign-in")
        assert (await newcomer.get("/sign-in")).status_code == 303
        for path in ("/", "/privacy", "/cookies", "/accessibility", "/contact"):
            assert (await newcomer.get(path)).status_code == 200, path
        for path in ("/eligibility/who", "/cannot-use/unpaid-carer", "/signed-out"):
            assert (await newcomer.get(path)).status_code == 200, path
        assert (await newcomer.get("/assets/govuk-frontend.min.css")).status_code == 200
        page = await newcomer.get("/waiting-room")
        every = int(page.headers["refresh"])
        assert 15 <= every <= 60
        assert "You are in a queue" in page.text and "Estimated wait" in page.text
        # The page says in words what its Refresh header does.
        assert f"This page updates by itself {refresh_text(every)}" in page.text
        quiet = await newcomer.get("/waiting-room?refresh=off")
        assert "refresh" not in quiet.headers
        assert COOKIE in newcomer.cookies
