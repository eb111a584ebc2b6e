"""Launch day through the site's own pages and its waiting room (``bench/launch.py --site``).

Each visitor is a browser: a cookie jar of its own (the site's session cookie, and the
device cookie a sign-in leaves), every redirect followed as a browser follows it, every form
sent back with the CSRF token its page carried, and the waiting room's page reloaded when
its ``Refresh`` header says. A visitor asks the orders site for the sign-in page (or, not on
the register, the create-account page); while the journey is full the site sends them to
/waiting-room, where they stay, reloading it as told, until it sends them on. How long that
took, from asking for the page to the answer that let them in, is the visitor's wait
(``waiting_room_ms``; 0 for a visitor let straight in). Then they walk the journey:

    CQC:     GET /sign-in -> POST /sign-in with the email and the location's code (a provider
             with several locations goes back to /sign-in with each other code) -> the
             location's details (or which locations) -> staff numbers -> (several: where to
             deliver) -> who the parcel is addressed to -> check your answers -> place the
             order -> its confirmation (which gives the place to the next in line) -> the
             order's page
    non-CQC: GET /create-account -> POST it -> the emailed link's page -> POST it -> sign in
             with the password -> "we are still setting up your account" (Try again) until
             orders has heard of it -> the address registered -> how many badges -> who
             the parcel is addressed to -> check your answers -> place -> confirmation ->
             the order's page

Each request is timed under its page (``GET /order/staff``, ``POST /order/check``, ``GET
/order/confirmation/{id}``...), redirect hops included, as a browser makes them. Beside the
visitors' view, :class:`RoomWatch` reads the room's own: its metrics every 2 s (queue
length, visitors in the journey, the wait histogram) and its table of tickets (arrival and
admission time of each), from which it checks that tickets were let in in ticket order.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import math
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.harness import percentiles
from bench.launch import Inbox, Mailbox, Patience, Services, Tally, Visitor, client
from bench.launch_register import Provider, account_form
from services.orders.settings import OrdersSettings
from tests.support.private_platform import PrivatePlatform
from tests.support.site import csrf_token

WAITING_ROOM = "/waiting-room"
#: Redirects a browser follows in a row before it gives up (the waiting room's reloads are
#: not redirects and do not count).
MAX_HOPS = 10
_TITLE = re.compile(r"<title[^>]*>\s*(.*?)\s*</title>", re.S)
_PLACE = re.compile(r"Your place in the queue\s*</dt>\s*<dd[^>]*>\s*([\d,]+)\s*</dd>", re.S)
_ID = re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?=/|$)")
_CONFIRMATION = re.compile(r"^/order/confirmation/([0-9a-f-]{36})$")
_REFRESH = re.compile(
    r"""^\s*(\d+(?:\.\d*)?)\s*(?:[;,]\s*(?:url\s*=\s*)?(['"]?)(.*?)\2\s*)?$""", re.I
)
#: What the "setting up" page and the check page's error say while orders has not yet
#: heard of a new account (a person waits a moment and tries again).
NOT_READY = "still setting up your account"
#: What the room's settings are called in the services' environment.
ROOM_SETTINGS = ("waiting_room_limit", "waiting_room_admit_per_second", "waiting_room_tick_seconds")


# --- what a browser reads off an answer (pure) ----------------------------------------------


def parse_refresh(value: str | None) -> tuple[float, str | None] | None:
    """A ``Refresh`` header as browsers read it: seconds, and where to go (None: reload the
    same page). ``"15"``, ``"15; url=/next"``, ``"0;URL='/next'"``. None if absent or not
    understood (a browser then does not refresh)."""
    if value is None:
        return None
    found = _REFRESH.match(value)
    if not found:
        return None
    seconds = float(found.group(1))
    target = (found.group(3) or "").strip()
    return seconds, target or None


def page_kind(method: str, path: str) -> str:
    """A request's page, for its latency: the method and path without the query, order ids
    as ``{id}`` (``GET /order/confirmation/{id}``)."""
    return f"{method} {_ID.sub('/{id}', urlsplit(path).path)}"


def local_path(location: str) -> str:
    """Where a redirect (or a Refresh) points, as a path and query on this site."""
    parts = urlsplit(location)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def keep_cookies(jar: dict[str, str], set_cookies: Iterable[str]) -> None:
    """Keep what ``Set-Cookie`` headers set, as a browser would for this one site: the name
    and value; a cookie set to expire (``Max-Age=0``) is forgotten. The cookies are
    ``Secure`` and the run is plain HTTP on the loopback, so the jar does not check that."""
    for header in set_cookies:
        pair, *attributes = header.split(";")
        name, sep, value = pair.strip().partition("=")
        if not sep or not name:
            continue
        expired = any(
            a.strip().lower().startswith("max-age=") and a.split("=", 1)[1].strip() in ("0", "-1")
            for a in attributes
        )
        if expired or not value:
            jar.pop(name, None)
        else:
            jar[name] = value


def cookie_header(jar: Mapping[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in jar.items())


def title_of(page: str) -> str:
    """The page's title as the browser's tab shows it, without the service's name."""
    found = _TITLE.search(page)
    return html.unescape(found.group(1)).split(" - ")[0].strip() if found else ""


def place_of(page: str) -> int | None:
    """The place the waiting room's page shows (1 = next in)."""
    found = _PLACE.search(page)
    return int(found.group(1).replace(",", "")) if found else None


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties given their average rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return result


def rank_correlation(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation (1: the same order); None with fewer than two pairs or
    no spread."""
    if len(xs) != len(ys) or len(xs) < 2:
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    spread = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return round(cov / spread, 4) if spread else None


# --- the room's own figures (pure) -----------------------------------------------------------


@dataclass(frozen=True)
class TicketRow:
    """One ticket of the room's table: times as seconds since the epoch."""

    seq: int
    state: str
    arrived: float
    admitted: float | None
    api_caller: bool = False


#: Admission times are stamped at the start of the admitting transaction, which may have
#: waited for the room's lock while another admitted later tickets: an inversion smaller
#: than this is the stamp, not the order.
STAMP_TOLERANCE_SECONDS = 1.0


def ticket_figures(rows: Iterable[TicketRow]) -> dict[str, Any]:
    """What the room's table says: how many tickets, let in, gone while waiting, still
    waiting; the room's wait (arrival to admission); its admission rate; and how many
    tickets were let in before an earlier ticket that was let in too (0 when first come is
    first served)."""
    ordered = sorted(rows, key=lambda r: r.seq)
    admitted = [r for r in ordered if r.admitted is not None]
    late = 0
    latest = -math.inf
    for row in admitted:
        assert row.admitted is not None
        if row.admitted < latest - STAMP_TOLERANCE_SECONDS:
            late += 1
        latest = max(latest, row.admitted)
    times = sorted(r.admitted for r in admitted if r.admitted is not None)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return {
        "tickets": len(ordered),
        "api_tickets": sum(r.api_caller for r in ordered),
        "let_in": len(admitted),
        "gone_while_waiting": sum(r.state == "left" and r.admitted is None for r in ordered),
        "still_waiting": sum(r.state == "waiting" for r in ordered),
        "still_in_journey": sum(r.state == "admitted" for r in ordered),
        "wait_ms": percentiles(
            [max(0.0, r.admitted - r.arrived) for r in admitted if r.admitted is not None]
        ),
        "let_in_per_second": round((len(times) - 1) / span, 2) if span else None,
        "let_in_before_an_earlier_ticket": late,
    }


def room_settings(settings: Mapping[str, str]) -> dict[str, float]:
    """The room's settings the services run with: ``--set`` values, else orders' defaults."""
    given = {name.lower(): value for name, value in settings.items()}
    fields = OrdersSettings.model_fields
    return {
        name.removeprefix("waiting_room_"): float(
            given.get(f"care_orders_{name}", fields[name].default)
        )
        for name in ROOM_SETTINGS
    }


# --- a browser ---------------------------------------------------------------------------


class _NoCookies(DefaultCookiePolicy):
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False


def cookieless_jar() -> CookieJar:
    """For the HTTP client every visitor shares: it keeps no cookies, each browser does."""
    return CookieJar(policy=_NoCookies())


@dataclass
class QueueTally:
    """The waiting room as the visitors saw it."""

    #: (asked for the page, let in) of each visitor sent to the waiting room.
    queued: list[tuple[float, float]] = field(default_factory=list)
    #: The place each visitor's first waiting page showed.
    first_places: list[int] = field(default_factory=list)
    refreshes: int = 0
    refresh_seconds: Counter[int] = field(default_factory=Counter)

    def summary(self, visitors: int) -> dict[str, Any]:
        asked = [a for a, _ in self.queued]
        let_in = [b for _, b in self.queued]
        return {
            "visitors": visitors,
            "sent_to_the_waiting_room": len(self.queued),
            "queued_wait_ms": percentiles([b - a for a, b in self.queued]),
            "first_place_shown": {
                "p50": sorted(self.first_places)[len(self.first_places) // 2],
                "max": max(self.first_places),
            }
            if self.first_places
            else {},
            "page_reloads": self.refreshes,
            "refresh_header_seconds": {str(k): v for k, v in sorted(self.refresh_seconds.items())},
            # 1.0 when visitors were let in in the order they asked; each sees it only at
            # their next reload (5 s to 5 minutes later), so neighbours can swap.
            "arrival_to_let_in_rank_correlation": rank_correlation(asked, let_in),
        }


@dataclass
class Page:
    """Where a navigation ended: the path and query, and the answer there."""

    path: str
    response: httpx.Response

    @property
    def html(self) -> str:
        return self.response.text

    @property
    def title(self) -> str:
        return title_of(self.response.text)


class Browser:
    """One visitor's browser on the orders site: its cookies, its navigation."""

    def __init__(self, http: httpx.AsyncClient, base: str, tally: Tally, queue: QueueTally):
        self.http = http
        self.base = base
        self.tally = tally
        self.queue = queue
        self.jar: dict[str, str] = {}
        #: Seconds spent in the waiting room (from asking for a page to being let in).
        self.waited = 0.0
        #: Whether the site let the browser in: it reached a page other than the room's.
        self.entered = False

    async def request(
        self, method: str, path: str, data: dict[str, Any] | None = None
    ) -> httpx.Response:
        headers = {"Cookie": cookie_header(self.jar)} if self.jar else {}
        response = await self.tally.timed(
            page_kind(method, path),
            self.http.request(method, self.base + path, data=data, headers=headers),
        )
        keep_cookies(self.jar, response.headers.get_list("set-cookie"))
        return response

    async def go(self, path: str, method: str = "GET", data: dict[str, Any] | None = None) -> Page:
        """Open ``path`` (or send a form to it) and follow where the site sends the browser,
        through the waiting room if it is full, to the page it ends on."""
        asked = time.perf_counter()
        queued = False
        hops = 0
        while True:
            response = await self.request(method, path, data)
            location = response.headers.get("location")
            if response.is_redirect and location:
                target = local_path(location)
                if queued and not _in_room(target):
                    let_in = time.perf_counter()
                    self.waited += let_in - asked
                    self.queue.queued.append((asked, let_in))
                    queued = False
                if response.status_code not in (307, 308):
                    method, data = "GET", None
                path = target
                hops += 1
                if hops > MAX_HOPS:
                    raise RuntimeError(f"more than {MAX_HOPS} redirects from {path}")
                continue
            if _in_room(path) and response.status_code == 200:
                if not queued:
                    queued = True
                    place = place_of(response.text)
                    if place is not None:
                        self.queue.first_places.append(place)
                path = await self.stay(path, response)
                method, data, hops = "GET", None, 0
                continue
            if response.status_code == 200 and not _in_room(path):
                self.entered = True
            return Page(path, response)

    async def stay(self, path: str, response: httpx.Response) -> str:
        """On the waiting room's page: wait as its Refresh header says, then reload."""
        refresh = parse_refresh(response.headers.get("refresh"))
        if refresh is None:
            raise RuntimeError("the waiting room's page did not say when to look again")
        seconds, target = refresh
        self.queue.refreshes += 1
        self.queue.refresh_seconds[round(seconds)] += 1
        await asyncio.sleep(seconds)
        return local_path(target) if target else path

    async def submit(self, page: Page, data: dict[str, Any], expect: str | None = None) -> Page:
        """Send the page's form (to the page itself, as the site's forms have no action)
        with its CSRF token; with ``expect``, the page it must lead to."""
        token = csrf_token(page.html)
        if token is None:
            raise RuntimeError(f"no form on {page.path} ({page.title})")
        landed = await self.go(page.path, "POST", {**data, "csrf_token": token})
        if expect is not None and landed.path != expect:
            raise RuntimeError(f"{page.path} led to {landed.path} ({landed.title}), not {expect}")
        return landed


def _in_room(path: str) -> bool:
    return urlsplit(path).path == WAITING_ROOM


@contextlib.asynccontextmanager
async def site_visitors(
    platform: PrivatePlatform, tally: Tally, think: float
) -> AsyncIterator[SiteJourneys]:
    """Browsers on the orders site, sharing a client that keeps no cookies (each browser
    keeps its own), with the room's own figures read beside them while they visit."""
    mail = Mailbox(platform.state / "mail" / "new")
    metrics = platform.url("orders", "/metrics")
    async with (
        client(cookieless_jar()) as http,
        # The room's metrics on a client of their own, never queued behind the visitors.
        httpx.AsyncClient(timeout=30) as watching,
        RoomWatch(metrics, platform.database_urls()["orders"], watching) as room,
    ):
        yield SiteJourneys(platform, http, tally, think, mail, room)


class SiteJourneys(Visitor):
    """Each provider's visit through the site's pages, as a browser makes it."""

    def __init__(
        self,
        platform: Services,
        http: httpx.AsyncClient,
        tally: Tally,
        think: float,
        mail: Inbox,
        room: RoomWatch,
    ) -> None:
        super().__init__(tally, think)
        self.base = platform.url("orders", "")
        self.http = http
        self.mail = mail
        self.room = room
        self.queue = QueueTally()
        self.visitors = 0

    async def journey(self, provider: Provider) -> None:
        """A browser of its own walks the journey; its wait counts once the site let it in
        (a visitor who gave up in the room was never let in)."""
        self.visitors += 1
        browser = Browser(self.http, self.base, self.tally, self.queue)
        try:
            if provider.kind == "non_cqc":
                await self.sign_up_and_order(browser, provider)
            else:
                await self.sign_in_and_order(browser, provider)
        finally:
            if browser.entered:
                self.tally.waited.append(browser.waited)

    def progress(self) -> str:
        last = self.room.last
        return (
            f", {last.get('waiting', 0):.0f} waiting and "
            f"{last.get('admitted', 0):.0f} in the journey"
        )

    async def figures(self) -> dict[str, Any]:
        return {
            "waiting_room": {
                **self.queue.summary(self.visitors),
                "room": await self.room.figures(),
            }
        }

    async def sign_in(self, browser: Browser, page: Page, email: str, password: str) -> Page:
        if page.path != "/sign-in":
            page = await browser.go("/sign-in")
        await self.think()
        landed = await browser.submit(
            page, {"email": email, "password": password}, expect="/order/locations"
        )
        self.tally.sign_ins.append(time.perf_counter())
        return landed

    async def sign_in_and_order(self, browser: Browser, provider: Provider) -> None:
        page = await browser.go("/sign-in")
        # As the site's FAQ says: an email covering several locations signs in with each one's
        # code in turn, and the account then holds them all.
        for code in [provider.password, *provider.more_codes]:
            page = await self.sign_in(browser, page, provider.email, code)
        await self.think()  # the location's details, or which locations
        several = len(provider.lines) > 1
        chosen = {"locations": [loc for loc, _ in provider.lines]} if several else {}
        page = await browser.submit(page, chosen, expect="/order/staff")
        await self.think()
        counts = {f"staff-{loc}": str(n) for loc, n in provider.lines}
        page = await browser.submit(
            page, counts, expect="/order/deliver-to" if several else "/order/contact"
        )
        if several:
            await self.think()
            first = provider.lines[0][0]
            page = await browser.submit(page, {"deliver-to": first}, expect="/order/contact")
        await self.finish(browser, page)

    async def sign_up_and_order(self, browser: Browser, provider: Provider) -> None:
        page = await browser.go("/create-account")
        await self.think()
        sent = await browser.submit(
            page,
            {**account_form(provider), "address_line_2": ""},
            expect="/create-account",
        )
        if sent.title != "Check your email":
            raise RuntimeError(f"account not created: {sent.title}")
        token = await self.mail.token(provider.email)
        page = await browser.go(f"/create-account/confirm?token={token}")
        await self.think()
        await browser.submit(page, {"token": token}, expect="/create-account/done")
        await self.think()
        page = await browser.go("/sign-in")
        page = await self.sign_in(browser, page, provider.email, provider.password)
        patience = Patience(self.tally)
        while NOT_READY in page.html:  # "We are still setting up your account": Try again
            if not patience.lasts():
                raise RuntimeError("the account was never set up")
            await patience.try_again()
            page = await browser.go("/order/locations")
        await self.think()  # the address registered
        page = await browser.submit(page, {}, expect="/order/staff")
        await self.think()
        page = await browser.submit(
            page, {"badges": str(provider.lines[0][1])}, expect="/order/contact"
        )
        await self.finish(browser, page)

    async def finish(self, browser: Browser, page: Page) -> None:
        """Who the parcel is addressed to, check your answers, place, then the order's page."""
        await self.think()
        page = await browser.submit(page, {"contact-name": "Launch Day"}, expect="/order/check")
        await self.think()
        order_id = await self.place(browser, page)
        await self.think()
        seen = await browser.go(f"/orders/{order_id}")
        if seen.response.status_code != 200:
            raise RuntimeError(f"the order's page answered {seen.response.status_code}")

    async def place(self, browser: Browser, page: Page) -> str:
        """Place order, pressed again while orders is still setting the account up."""
        patience = Patience(self.tally)
        while patience.lasts():
            started = time.perf_counter()
            landed = await browser.submit(page, {})
            confirmed = _CONFIRMATION.match(landed.path)
            if confirmed and landed.response.status_code == 200:
                self.tally.placed_at[confirmed.group(1)] = started
                return confirmed.group(1)
            if NOT_READY not in landed.html or landed.path != "/order/check":
                raise RuntimeError(f"order not placed: {landed.title} at {landed.path}")
            await patience.try_again()
            page = landed
        raise RuntimeError("the account was never ready to order")


# --- the room's own view -------------------------------------------------------------------


class RoomWatch:
    """The waiting room as orders sees it: its metrics every ``every`` seconds, its table of
    tickets every ``table_every`` (merged by ticket: the room deletes tickets an hour after
    they leave, and a launch-sized run lasts longer than that).

    An async context manager: inside, it reads in a task of its own, on a database engine of
    its own; leaving stops the task and closes the engine, whether the burst ended or raised.
    """

    def __init__(
        self, metrics_url: str, database_url: str, http: httpx.AsyncClient, every: float = 2.0
    ) -> None:
        self.metrics_url = metrics_url
        self.database_url = database_url
        self.http = http
        self.every = every
        self.table_every = 30.0
        self.most: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.histogram: dict[str, float] = {}
        self.tickets: dict[int, TicketRow] = {}
        self.failures = 0
        self.engine: AsyncEngine | None = None
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RoomWatch:
        self.engine = create_async_engine(self.database_url, pool_size=1)
        self.task = asyncio.create_task(self.run())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None

    async def stop(self) -> None:
        """Stop reading every few seconds (a last reading is the caller's)."""
        if self.task is None:
            return
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.task = None

    async def run(self) -> None:
        read_table_at = 0.0
        while True:
            await self.read_metrics()
            if time.perf_counter() >= read_table_at:
                await self.read_table()
                read_table_at = time.perf_counter() + self.table_every
            await asyncio.sleep(self.every)

    async def read_metrics(self) -> None:
        """The room's gauges (their latest and largest values) and its wait histogram."""
        try:
            answer = await self.http.get(self.metrics_url)
        except httpx.HTTPError:
            self.failures += 1
            return
        for family in text_string_to_metric_families(answer.text):
            if not family.name.startswith("care_waiting_room"):
                continue
            for sample in family.samples:
                name = sample.name.removeprefix("care_waiting_room_")
                if name.startswith("wait_seconds"):
                    key = name + (f"_le_{sample.labels['le']}" if "le" in sample.labels else "")
                    self.histogram[key] = sample.value
                else:
                    self.last[name] = sample.value
                    self.most[name] = max(self.most.get(name, 0.0), sample.value)

    async def read_table(self) -> None:
        if self.engine is None:
            raise RuntimeError("the room's table is read only inside the watch")
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT seq, state, extract(epoch FROM arrived_at),"
                    " extract(epoch FROM admitted_at), api_caller IS NOT NULL FROM waiting_room"
                )
            )
            for seq, state, arrived, admitted, api in rows:
                self.tickets[int(seq)] = TicketRow(
                    int(seq),
                    str(state),
                    float(arrived),
                    None if admitted is None else float(admitted),
                    bool(api),
                )

    async def figures(self) -> dict[str, Any]:
        """The room's figures at the end of the burst, from a last reading of both."""
        await self.stop()
        await self.read_metrics()
        await self.read_table()
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """What was read: the table's tickets, and the metrics' largest gauges and histogram."""
        count = self.histogram.get("wait_seconds_count", 0.0)
        return {
            "tickets": ticket_figures(self.tickets.values()),
            "metrics": {
                "limit": self.last.get("limit"),
                "most_waiting": self.most.get("waiting"),
                "most_in_journey": self.most.get("admitted"),
                "wait_seconds_count": int(count),
                "wait_seconds_mean": round(self.histogram.get("wait_seconds_sum", 0.0) / count, 1)
                if count
                else None,
                "wait_seconds_buckets": {
                    key.removeprefix("wait_seconds_bucket_le_"): int(value)
                    for key, value in self.histogram.items()
                    if key.startswith("wait_seconds_bucket_le_")
                },
                "read_failures": self.failures,
            },
        }
