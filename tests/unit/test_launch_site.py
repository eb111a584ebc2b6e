"""The launch benchmark's site mode behaves as a browser and counts what it says
(bench/launch_site.py): a visitor that ignored the waiting room's Refresh header, shared
another's cookies or skipped a page would measure a different site from the one people use.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from bench.launch import Patience, Tally
from bench.launch_register import Provider, account_form
from bench.launch_site import (
    MAX_HOPS,
    NOT_READY,
    Browser,
    QueueTally,
    RoomWatch,
    SiteJourneys,
    TicketRow,
    cookie_header,
    cookieless_jar,
    keep_cookies,
    local_path,
    page_kind,
    parse_refresh,
    place_of,
    rank_correlation,
    room_settings,
    ticket_figures,
    title_of,
)
from services.orders.domain.waiting_room import is_guarded
from tests.support.site import csrf_token


def test_the_refresh_header_is_read_as_browsers_read_it() -> None:
    assert parse_refresh("15") == (15.0, None)
    assert parse_refresh(" 60 ") == (60.0, None)
    assert parse_refresh("5; url=/sign-in") == (5.0, "/sign-in")
    assert parse_refresh("0;URL='/order/locations?x=1'") == (0.0, "/order/locations?x=1")
    assert parse_refresh('2, url="https://site.test/next"') == (2.0, "https://site.test/next")
    assert parse_refresh("1.5") == (1.5, None)
    for unreadable in (None, "", "soon", "-3", "url=/x"):
        assert parse_refresh(unreadable) is None, unreadable


def test_requests_are_timed_under_their_page_without_ids_or_queries() -> None:
    order = str(uuid.uuid4())
    assert page_kind("GET", f"/order/confirmation/{order}") == "GET /order/confirmation/{id}"
    assert page_kind("GET", f"/orders/{order}") == "GET /orders/{id}"
    assert page_kind("GET", "/create-account/confirm?token=abc") == "GET /create-account/confirm"
    assert page_kind("GET", "/waiting-room?refresh=off") == "GET /waiting-room"
    assert page_kind("POST", "/order/check") == "POST /order/check"


def test_a_redirect_is_followed_on_the_same_site() -> None:
    assert local_path("/order/staff") == "/order/staff"
    assert local_path("http://127.0.0.1:8702/sign-in?next=%2Forders") == "/sign-in?next=%2Forders"
    assert local_path("") == "/"


def test_each_browser_keeps_the_cookies_the_site_sets_and_forgets_expired_ones() -> None:
    jar: dict[str, str] = {}
    keep_cookies(
        jar,
        [
            "__Host-care-session=abc; Path=/; Max-Age=28800; Secure; HttpOnly; SameSite=Lax",
            "__Host-care-device=d1~d0; Path=/; Max-Age=31536000; Secure; HttpOnly",
        ],
    )
    assert jar == {"__Host-care-session": "abc", "__Host-care-device": "d1~d0"}
    keep_cookies(jar, ["__Host-care-session=new; Path=/; Secure"])  # a new session id
    assert jar["__Host-care-session"] == "new"
    keep_cookies(jar, ['__Host-care-session=""; Max-Age=0; Path=/; Secure'])  # signed out
    keep_cookies(jar, ["malformed"])
    assert jar == {"__Host-care-device": "d1~d0"}
    assert cookie_header({"a": "1", "b": "2"}) == "a=1; b=2"


def test_the_shared_client_keeps_no_cookie_of_any_visitor() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert "cookie" not in request.headers
        return httpx.Response(200, headers={"set-cookie": "s=1; Path=/"})

    with httpx.Client(transport=httpx.MockTransport(answer), cookies=cookieless_jar()) as http:
        http.get("http://site.test/sign-in")
        http.get("http://site.test/sign-in")
        assert not list(http.cookies.jar)


def test_the_queue_page_gives_its_title_and_the_place_it_shows() -> None:
    page = """<title>You are in a queue - Order CARE badges - GOV.UK</title>
      <dl class="govuk-summary-list"><div class="govuk-summary-list__row">
        <dt class="govuk-summary-list__key">
          Your place in the queue
        </dt>
        <dd class="govuk-summary-list__value">
          1,204
        </dd></div></dl>"""
    assert title_of(page) == "You are in a queue"
    assert place_of(page) == 1204
    assert place_of("<title>Sign in</title>") is None
    assert (
        title_of("<title>Error: Sign in - Order CARE badges - GOV.UK</title>") == "Error: Sign in"
    )


def test_a_page_without_a_form_has_no_token_and_a_token_is_read_as_html() -> None:
    assert csrf_token("<title>Sign in</title><p>No form here</p>") is None
    assert csrf_token('<input type="hidden" name="csrf_token" value="a&amp;b">') == "a&b"


def test_rank_correlation_says_whether_visitors_were_let_in_in_arrival_order() -> None:
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert rank_correlation([1, 2, 3, 4], [40, 30, 20, 10]) == -1.0
    assert rank_correlation([1, 2, 3, 4], [10, 10, 30, 30]) == pytest.approx(0.8944, abs=1e-4)
    assert rank_correlation([1], [1]) is None
    assert rank_correlation([1, 2], [5, 5]) is None


def test_the_rooms_table_shows_tickets_let_in_out_of_turn() -> None:
    in_turn = [
        TicketRow(1, "left", 100.0, 100.0),
        TicketRow(2, "left", 101.0, 130.0),
        TicketRow(3, "left", 102.0, None),  # stopped checking in while waiting
        TicketRow(4, "admitted", 103.0, 130.0),  # let in with 2, in one statement
        TicketRow(5, "left", 104.0, 129.5),  # stamped at its transaction's start
        TicketRow(6, "waiting", 105.0, None),
        TicketRow(7, "left", 106.0, 131.0, api_caller=True),  # an API call, used up
    ]
    figures = ticket_figures(reversed(in_turn))
    assert figures["tickets"] == 7 and figures["api_tickets"] == 1
    assert figures["let_in"] == 5 and figures["gone_while_waiting"] == 1
    assert figures["still_waiting"] == 1 and figures["still_in_journey"] == 1
    assert figures["wait_ms"]["max"] == 29_000.0
    assert figures["let_in_before_an_earlier_ticket"] == 0  # 5's stamp is within tolerance
    assert figures["let_in_per_second"] == round(4 / 31, 2)

    out_of_turn = [TicketRow(1, "left", 0.0, 50.0), TicketRow(2, "left", 1.0, 40.0)]
    assert ticket_figures(out_of_turn)["let_in_before_an_earlier_ticket"] == 1
    assert ticket_figures([])["let_in_per_second"] is None


def test_the_rooms_settings_are_those_given_else_orders_defaults() -> None:
    assert room_settings({}) == {"limit": 1000.0, "admit_per_second": 8.0, "tick_seconds": 2.0}
    given = room_settings(
        {"CARE_ORDERS_WAITING_ROOM_LIMIT": "20", "care_orders_waiting_room_tick_seconds": "0.5"}
    )
    assert given == {"limit": 20.0, "admit_per_second": 8.0, "tick_seconds": 0.5}


# --- a whole visit against a fake orders site --------------------------------------------


SESSION, DEVICE = "__Host-care-session", "__Host-care-device"
#: The room watch's database where no table is read (an engine connects only when used).
UNUSED_DATABASE = "postgresql+asyncpg://unused/x"


class FakeOrdersSite:
    """The orders site as far as the journeys need it: sessions by cookie, a CSRF token per
    session, a waiting room of ``limit`` places with a Refresh header, and the pages'
    redirects. It notes each session's requests and checks every form's token."""

    def __init__(self, limit: int, refresh: str | None = None, not_ready_checks: int = 0) -> None:
        self.limit = limit
        #: The waiting room page's Refresh header (None: the page leaves it out).
        self.refresh = refresh
        #: How many times "Place order" answers that the account is still being set up.
        self.not_ready_checks = not_ready_checks
        self.sessions: dict[str, dict[str, Any]] = {}
        self.inside: set[str] = set()
        self.most_inside = 0
        self.queue: list[str] = []
        self.requests: dict[str, list[str]] = defaultdict(list)
        self.reloads: dict[str, list[float]] = defaultdict(list)  # when each asked the room
        self.problems: list[str] = []
        self.accounts: list[dict[str, str]] = []  # each create-account form's answers

    def url(self, service: str, path: str) -> str:
        return f"http://{service}.test{path}"

    def form(self, sid: str, title: str, extra: str = "") -> httpx.Response:
        token = self.sessions[sid]["csrf"]
        return httpx.Response(
            200,
            text=f'<title>{title} - Order CARE badges - GOV.UK</title>{extra}<form method="post">'
            f'<input type="hidden" name="csrf_token" value="{token}"></form>',
        )

    @staticmethod
    def go(path: str) -> httpx.Response:
        return httpx.Response(303, headers={"location": path})

    def admit(self) -> None:
        while self.queue and len(self.inside) < self.limit:
            self.inside.add(self.queue.pop(0))
        self.most_inside = max(self.most_inside, len(self.inside))

    async def answer(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)  # let the other visitors arrive meanwhile
        cookies = dict(
            part.strip().split("=", 1)
            for part in request.headers.get("cookie", "").split(";")
            if part
        )
        sid = cookies.get(SESSION) or uuid.uuid4().hex
        fresh = sid not in self.sessions
        session = self.sessions.setdefault(sid, {"csrf": uuid.uuid4().hex})
        response = await self.page(request, sid, session, cookies)
        if fresh:
            response.headers["set-cookie"] = f"{SESSION}={sid}; Path=/; Secure; HttpOnly"
        return response

    async def page(
        self, request: httpx.Request, sid: str, session: dict[str, Any], cookies: dict[str, str]
    ) -> httpx.Response:
        method, path = request.method, request.url.path
        self.requests[sid].append(f"{method} {path}")
        form = parse_qs(request.content.decode(), keep_blank_values=True)
        if method == "POST" and form.get("csrf_token") != [session["csrf"]]:
            self.problems.append(f"{method} {path} without the session's token")
            return httpx.Response(403)
        if is_guarded(path) and sid not in self.inside:
            if sid not in self.queue:
                self.queue.append(sid)
            self.admit()
            if sid not in self.inside:
                session["next"] = path
                return self.go("/waiting-room")
        if path == "/waiting-room":
            self.reloads[sid].append(time.perf_counter())
            self.admit()
            if sid in self.inside:
                return self.go(session.pop("next"))
            place = self.queue.index(sid) + 1
            return httpx.Response(
                200,
                headers={"refresh": self.refresh} if self.refresh is not None else {},
                text="<title>You are in a queue - x</title><dt>Your place in the queue</dt>"
                f"<dd>{place}</dd>",
            )
        if path.startswith("/order/confirmation/"):
            self.inside.discard(sid)
            self.admit()
            return httpx.Response(200, text="<title>Order placed - x</title>")
        if path.startswith("/orders/"):
            return httpx.Response(200, text="<title>Your order - x</title>")
        if method == "GET":
            if path == "/order/locations" and session.get("kind") == "non_cqc":
                if not session.get("set_up"):
                    session["set_up"] = True
                    return httpx.Response(
                        200, text="<title>We are still setting up your account - x</title>"
                    )
            return self.form(sid, path)
        if path == "/sign-in":
            if session.get("signed_in") and DEVICE not in cookies:
                self.problems.append("the device cookie did not come back")
            session["signed_in"] = session.get("signed_in", 0) + 1
            session["kind"] = "non_cqc" if form["email"][0].startswith("manager") else "cqc"
            done = self.go("/order/locations")
            done.headers["set-cookie"] = f"{DEVICE}=dev{sid[:4]}; Path=/; Secure"
            return done
        if path == "/create-account":
            self.accounts.append({k: v[0] for k, v in form.items() if k != "csrf_token"})
            return self.form(sid, "Check your email")
        if path == "/create-account/confirm":
            return self.go("/create-account/done")
        if path == "/order/locations":
            return self.go("/order/staff")
        if path == "/order/staff":
            several = sum(k.startswith("staff-") for k in form) > 1
            return self.go("/order/deliver-to" if several else "/order/contact")
        if path == "/order/deliver-to":
            return self.go("/order/contact")
        if path == "/order/contact":
            return self.go("/order/check")
        if path == "/order/check":
            if self.not_ready_checks:
                self.not_ready_checks -= 1
                return self.form(sid, "Error: Check your answers", extra=f"We are {NOT_READY}")
            return self.go(f"/order/confirmation/{uuid.uuid4()}")
        return httpx.Response(404)


#: The fake room's Refresh header, in seconds: short, so the test is quick.
REFRESH = 0.05


class FakeInbox:
    async def token(self, address: str, wait: float = 900) -> str:
        return "emailed-token"


ONE_LOCATION = [
    "GET /sign-in",
    "POST /sign-in",
    "GET /order/locations",
    "POST /order/locations",
    "GET /order/staff",
    "POST /order/staff",
    "GET /order/contact",
    "POST /order/contact",
    "GET /order/check",
    "POST /order/check",
    "GET /order/confirmation/{id}",
    "GET /orders/{id}",
]


ONE = Provider("cqc_single", "one@example.test", "X1", [("1-1", 5)])
MULTI = Provider(
    "cqc_multi", "multi@example.test", "M1", [("2-1", 3), ("2-2", 4)], more_codes=["M2"]
)
NON_CQC = Provider("non_cqc", "manager0@non-cqc-care.example", "pw", [("", 7)])


async def _visit(site: FakeOrdersSite, providers: list[Provider]) -> tuple[Tally, SiteJourneys]:
    """Each provider arrives 20 ms after the one before and walks the site to the end."""
    tally = Tally()
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(site.answer), cookies=cookieless_jar()
    ) as http:
        # The room's own view is not read here: its watch is never entered.
        room = RoomWatch(site.url("orders", "/metrics"), UNUSED_DATABASE, http)
        journeys = SiteJourneys(site, http, tally, think=0, mail=FakeInbox(), room=room)
        now = time.perf_counter()
        visits = (journeys.visit(p, now + 0.02 * i) for i, p in enumerate(providers))
        # A visitor who fails inside keeps their place, and the others would wait for ever.
        await asyncio.wait_for(asyncio.gather(*visits), timeout=20)
    return tally, journeys


async def test_visitors_queue_honour_the_refresh_and_walk_every_page_in_turn() -> None:
    site = FakeOrdersSite(limit=1, refresh=str(REFRESH))
    tally, journeys = await _visit(site, [ONE, MULTI, NON_CQC])

    assert not tally.errors and not site.problems
    assert len(tally.placed_at) == 3 and len(tally.sign_ins) == 4
    assert site.most_inside == 1
    # The answers identity's API is sent in API mode, and the form's optional line left blank.
    assert site.accounts == [{**account_form(NON_CQC), "address_line_2": ""}]
    assert tally.not_ready_retries == 1  # the non-CQC account's "setting up" page, once
    first, multi, non_cqc = (
        [page_kind(*r.split(" ")) for r in requests] for requests in site.requests.values()
    )
    assert first == ONE_LOCATION
    # The others waited, reloading the queue page, and were sent on to the page they asked for.
    for pages, asked in ((multi, "GET /sign-in"), (non_cqc, "GET /create-account")):
        assert pages[:2] == [asked, "GET /waiting-room"]
        let_in = pages.index(asked, 1)
        assert set(pages[1:let_in]) == {"GET /waiting-room"}
    # Several locations: where to deliver comes between staff numbers and the addressee.
    between = ["POST /order/staff", "GET /order/deliver-to", "POST /order/deliver-to"]
    assert multi[-9:] == between + ONE_LOCATION[-6:]
    assert multi.count("POST /sign-in") == 2
    assert non_cqc[non_cqc.index("POST /create-account") :][:8] == [
        "POST /create-account",
        "GET /create-account/confirm",
        "POST /create-account/confirm",
        "GET /create-account/done",
        "GET /sign-in",
        "POST /sign-in",
        "GET /order/locations",  # still setting up
        "GET /order/locations",  # Try again
    ]
    # Each visitor's wait: none for the first, the time in the queue for the others.
    assert sorted(tally.waited)[0] == 0.0 and all(w > 0 for w in sorted(tally.waited)[1:])
    summary = journeys.queue.summary(journeys.visitors)
    assert summary["visitors"] == 3 and summary["sent_to_the_waiting_room"] == 2
    assert summary["first_place_shown"] == {"p50": 2, "max": 2}
    assert summary["page_reloads"] >= 2 and summary["refresh_header_seconds"].keys() == {"0"}
    # Each reload waited as long as the page said, no less (and, as asked, not much more).
    gaps = [b - a for times in site.reloads.values() for a, b in itertools.pairwise(times)]
    assert gaps and min(gaps) >= REFRESH and min(gaps) < REFRESH + 0.1
    assert tally.latency["GET /waiting-room"] and tally.latency["POST /order/check"]


async def test_place_order_is_pressed_again_while_the_account_is_still_being_set_up() -> None:
    site = FakeOrdersSite(limit=1, not_ready_checks=1)
    tally, _ = await _visit(site, [ONE])

    assert not tally.errors and len(tally.placed_at) == 1
    assert tally.not_ready_retries == 1
    (pages,) = site.requests.values()
    assert pages[-5:-2] == [
        "GET /order/check",
        "POST /order/check",  # still setting up your account
        "POST /order/check",  # pressed again
    ]
    assert pages[-2].startswith("GET /order/confirmation/")
    assert pages[-1].startswith("GET /orders/")


async def test_a_visitor_who_fails_in_the_waiting_room_adds_no_wait() -> None:
    # The room's page gives no Refresh header: the queued visitor cannot go on.
    site = FakeOrdersSite(limit=1, refresh=None)
    tally, journeys = await _visit(site, [ONE, MULTI])

    assert list(tally.errors) == [
        "journey: RuntimeError: the waiting room's page did not say when to look again"
    ]
    assert len(tally.placed_at) == 1
    assert tally.waited == [0.0]  # only the visitor the site let in
    assert journeys.queue.summary(journeys.visitors)["visitors"] == 2


async def test_a_browser_gives_up_after_so_many_redirects_in_a_row() -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(302, headers={"location": "/round"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        browser = Browser(http, "http://orders.test", Tally(), QueueTally())
        with pytest.raises(RuntimeError, match=f"more than {MAX_HOPS} redirects"):
            await browser.go("/start")
    assert len(asked) == MAX_HOPS + 1


async def test_patience_counts_each_try_again_and_runs_out() -> None:
    tally = Tally()
    patience = Patience(tally, wait=0.2, first_pause=0.02)
    tries = 0
    while patience.lasts():
        await patience.try_again()
        tries += 1
    assert tally.not_ready_retries == tries and 2 <= tries < 10
    assert patience.pause == pytest.approx(0.02 * 1.5**tries)


METRICS = """\
# HELP care_waiting_room_waiting Visitors queueing.
# TYPE care_waiting_room_waiting gauge
care_waiting_room_waiting{service="orders"} 12.0
# HELP care_waiting_room_admitted Visitors in the order journey now.
# TYPE care_waiting_room_admitted gauge
care_waiting_room_admitted{service="orders"} %(admitted)s
# HELP care_waiting_room_limit The most let in at once.
# TYPE care_waiting_room_limit gauge
care_waiting_room_limit{service="orders"} 20.0
# HELP care_waiting_room_wait_seconds Time from joining to being let in.
# TYPE care_waiting_room_wait_seconds histogram
care_waiting_room_wait_seconds_bucket{le="15.0",service="orders"} 3.0
care_waiting_room_wait_seconds_bucket{le="60.0",service="orders"} 5.0
care_waiting_room_wait_seconds_bucket{le="+Inf",service="orders"} 6.0
care_waiting_room_wait_seconds_count{service="orders"} 6.0
care_waiting_room_wait_seconds_sum{service="orders"} 150.0
# HELP care_http_requests_total Not the room's.
# TYPE care_http_requests_total counter
care_http_requests_total{service="orders"} 99.0
"""


async def test_the_room_watch_keeps_the_rooms_largest_gauges_and_its_wait_histogram() -> None:
    pages = iter([METRICS % {"admitted": "20.0"}, METRICS % {"admitted": "7.0"}])

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/metrics":
            return httpx.Response(404)
        page = next(pages, None)
        if page is None:
            raise httpx.ConnectError("orders is down")
        return httpx.Response(200, text=page)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        watch = RoomWatch("http://orders.test/metrics", UNUSED_DATABASE, http)
        for _ in range(3):
            await watch.read_metrics()
    watch.tickets[1] = TicketRow(1, "left", 100.0, 110.0)

    assert watch.last == {"waiting": 12.0, "admitted": 7.0, "limit": 20.0}
    figures = watch.summary()
    assert figures["metrics"] == {
        "limit": 20.0,
        "most_waiting": 12.0,
        "most_in_journey": 20.0,  # the largest seen, not the last
        "wait_seconds_count": 6,
        "wait_seconds_mean": 25.0,
        "wait_seconds_buckets": {"15.0": 3, "60.0": 5, "+Inf": 6},
        "read_failures": 1,
    }
    assert figures["tickets"]["let_in"] == 1
    with pytest.raises(RuntimeError, match="inside the watch"):
        await watch.read_table()


class TableCounting(RoomWatch):
    """A watch whose table reads are counted, not sent to a database."""

    tables = 0

    async def read_table(self) -> None:
        self.tables += 1


async def test_the_room_watch_stops_reading_and_closes_its_engine_when_the_burst_fails() -> None:
    down = httpx.MockTransport(lambda _: httpx.Response(503))
    async with httpx.AsyncClient(transport=down) as http:
        watch = TableCounting("http://orders.test/metrics", UNUSED_DATABASE, http, every=0.01)
        with pytest.raises(RuntimeError, match="the burst failed"):
            async with watch:
                await asyncio.sleep(0.05)
                task = watch.task
                raise RuntimeError("the burst failed")
    assert task is not None and task.cancelled()
    assert watch.task is None and watch.engine is None
    assert watch.tables >= 1 and watch.last == {}


async def test_the_room_watchs_figures_stop_its_reading_and_read_both_a_last_time() -> None:
    page = METRICS % {"admitted": "3.0"}
    up = httpx.MockTransport(lambda _: httpx.Response(200, text=page))
    async with httpx.AsyncClient(transport=up) as http:
        watch = TableCounting("http://orders.test/metrics", UNUSED_DATABASE, http, every=60)
        async with watch:
            await asyncio.sleep(0.02)  # the task's first reading
            tables = watch.tables
            figures = await watch.figures()
            assert watch.task is None  # no reading after the figures
    assert watch.tables == tables + 1
    assert figures["metrics"]["most_in_journey"] == 3.0
    assert figures["tickets"]["tickets"] == 0
