"""Launch day, reproduced: providers arrive, sign in, look, order, check, with think times.

Starts the platform as five processes (as the run command does) on a RabbitMQ node and a
PostgreSQL cluster of its own (so other users of the machine's broker cannot stall it), with
a generated register (bench/launch_register.py: CQC single and multi-location
providers, postcode sign-ins, border postcodes, non-CQC accounts). Each provider arrives at a
random moment of the burst window and walks one journey as an independent task (an open
model, so a slow platform shows as latency rather than as a slower generator).

By default (API mode, what the capacity figures use) the journeys call identity's and
orders' JSON APIs. With ``--admit N`` only N visitors are on at once and the rest wait
their turn in the generator itself (an asyncio semaphore, not the product's waiting room);
the wait is reported beside the request latencies:

    CQC:     sign in -> think -> GET account -> think -> POST order -> think -> GET order
    non-CQC: create account -> open the emailed link -> sign in with the password ->
             think -> POST order (staff count, to the registered address) -> think -> GET order

With ``--site`` each visitor is a browser on the orders site instead (bench/launch_site.py):
its own cookies, the pages' forms with their CSRF tokens, and the product's own waiting
room (ADR 0052) in front of the journey. A visitor the site sends to /waiting-room reloads
it as its Refresh header says until it is let in; that wait is ``waiting_room_ms``, and the
room's own figures (its metrics and its table of tickets) are reported beside it. The room's
size and pace are orders' settings: ``--room-limit`` and ``--room-rate``, or ``--set
CARE_ORDERS_WAITING_ROOM_...=``; unset, orders' defaults (1,000 in the journey, 8 let in a
second) apply. Latencies are per page (``POST /order/check``...).

The raw one-hop ceiling (bench/raw_hop.py) is measured in the same run on the same broker and
database, just before the burst, so the platform's efficiency is a ratio of two figures taken
a minute apart. After the last order it waits for every order to reach a final state,
reconciles the stores exactly (tests/support/reconcile.py) and writes the figures to bench/results/.

    .venv/bin/python bench/launch.py                       # 600 providers in 60 s
    .venv/bin/python bench/launch.py --providers 25000 --window 300 --admit 120 \\
        --out launch-full.json                             # the launch burst, semaphore
    .venv/bin/python bench/launch.py --site --providers 25000 --window 300 \\
        --room-limit 240 --room-rate 8 --out launch-full-site.json  # through the site's room
    .venv/bin/python bench/launch.py --site --providers 300 --window 30 --think 1 \\
        --room-limit 40 --out launch-site-small.json       # the site mode, a few minutes
    .venv/bin/python bench/launch.py --profile orders,dispatch   # py-spy the hot path
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.utils import parseaddr
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, Protocol

import aio_pika
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import cpu, harness  # noqa: E402
from bench.harness import percentiles  # noqa: E402
from bench.launch_register import Provider, account_form  # noqa: E402
from bench.profiling import Profiler  # noqa: E402
from tests.support.private_platform import PrivatePlatform  # noqa: E402
from tests.support.reconcile import final_states, reconcile  # noqa: E402

__all__ = [
    "Inbox",
    "Journeys",
    "Mailbox",
    "Patience",
    "Tally",
    "Visitor",
    "percentiles",
    "wait_until_final",
]


@dataclass
class Tally:
    """What the generator saw: latency per request kind, errors, when things happened."""

    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sign_ins: list[float] = field(default_factory=list)  # finish times
    placed_at: dict[str, float] = field(default_factory=dict)
    dispatched_at: dict[str, float] = field(default_factory=dict)
    not_ready_retries: int = 0
    #: How long each visitor waited to be let in, when the site admits a few at a time.
    waited: list[float] = field(default_factory=list)
    #: Sessions that expired while the provider waited, so they signed in again.
    signed_in_again: int = 0
    #: Orders whose 201 was lost to a fault and that the provider found in their list.
    recovered_orders: int = 0

    async def timed(self, kind: str, request: Any) -> httpx.Response:
        started = time.perf_counter()
        try:
            response: httpx.Response = await request
        except httpx.HTTPError as exc:
            self.errors[f"{kind}: {type(exc).__name__}"] += 1
            raise
        self.latency[kind].append(time.perf_counter() - started)
        if response.status_code >= 400 and not _not_ready(response):
            self.errors[f"{kind}: {response.status_code}"] += 1
        return response


def _not_ready(response: httpx.Response) -> bool:
    return response.status_code == 409 and (
        "locations-not-ready" in response.text or "account-not-ready" in response.text
    )


class Services(Protocol):
    """Where the services answer: the launcher's platform or the chaos scenario's."""

    def url(self, service: str, path: str) -> str: ...


class Site(Services, Protocol):
    """The services, and the folder the run command's SMTP server keeps the mail in."""

    state: Path


class Inbox(Protocol):
    """Where the confirmation emails land (a :class:`Mailbox`, or a test's stand-in)."""

    async def token(self, address: str, wait: float = 900) -> str: ...


class Patience:
    """A person meeting "not ready, try again in a moment" (orders has not yet heard of the
    account, or of its locations): a pause of 0.3 s growing by half each time to 5 s, and
    given up after ``wait`` seconds, as a backlog of registrations can hold it for minutes
    at launch scale. Every try again is counted in the tally."""

    def __init__(self, tally: Tally, wait: float = 600.0, first_pause: float = 0.3) -> None:
        self.tally = tally
        self.deadline = time.perf_counter() + wait
        self.pause = first_pause

    def lasts(self) -> bool:
        return time.perf_counter() < self.deadline

    async def try_again(self) -> None:
        self.tally.not_ready_retries += 1
        self.pause = min(5.0, self.pause * 1.5)
        await asyncio.sleep(self.pause)


class Visitor:
    """What every launch visitor does, whether they call the APIs or browse the site: arrive
    at their moment, think between steps, and have a failed journey counted as an error
    rather than end the burst. Subclasses say what the journey is."""

    def __init__(self, tally: Tally, think: float) -> None:
        self.tally = tally
        self.think_mean = think
        self.rng = random.Random(5)

    async def think(self) -> None:
        if self.think_mean:
            await asyncio.sleep(self.rng.expovariate(1 / self.think_mean))

    async def visit(self, provider: Provider, arrive_at: float) -> None:
        await asyncio.sleep(max(0.0, arrive_at - time.perf_counter()))
        try:
            await self.journey(provider)
        except (httpx.HTTPError, RuntimeError) as exc:
            self.tally.errors[f"journey: {type(exc).__name__}: {str(exc)[:80]}"] += 1

    async def journey(self, provider: Provider) -> None:
        raise NotImplementedError

    def progress(self) -> str:
        """What this kind of visitor adds to the progress line a long run prints."""
        return ""

    async def figures(self) -> dict[str, Any]:
        """What this kind of visitor adds to the run's figures, once the burst is over."""
        return {}


#: Answers that mean "the service is not there right now": a person tries again.
_UNAVAILABLE = (500, 502, 503, 504)


class Journeys(Visitor):
    """One provider's visit, against the platform's real HTTP APIs.

    With ``persist`` (the chaos scenario) a request that fails because a service or its
    database is down is tried again after a pause, as a person would press refresh; an order
    whose answer was lost is found again in the provider's list of orders.
    """

    def __init__(
        self,
        platform: Site,
        http: httpx.AsyncClient,
        tally: Tally,
        think: float,
        persist: float = 0.0,
        admit: int = 0,
    ):
        super().__init__(tally, think)
        self.platform = platform
        self.http = http
        self.persist = persist
        self.mail = Mailbox(platform.state / "mail" / "new")
        self.waiting_room = asyncio.Semaphore(admit) if admit else None

    async def send(self, kind: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, tried again while the platform is unavailable (if persisting)."""
        deadline = time.perf_counter() + self.persist
        while True:
            try:
                response = await self.tally.timed(kind, self.http.request(method, url, **kwargs))
            except httpx.TransportError:
                if time.perf_counter() > deadline:
                    raise
                self.tally.errors[f"{kind}: retried after a transport error"] += 1
            else:
                if response.status_code not in _UNAVAILABLE or time.perf_counter() > deadline:
                    return response
            await asyncio.sleep(0.5)

    async def journey(self, provider: Provider) -> None:
        """The walk, after waiting in the generator's own queue when it admits a few."""
        if self.waiting_room is None:
            await self.walk(provider)
            return
        asked = time.perf_counter()
        async with self.waiting_room:
            self.tally.waited.append(time.perf_counter() - asked)
            await self.walk(provider)

    async def walk(self, provider: Provider) -> None:
        """Sign in, look, order, check: every request timed."""
        if provider.kind == "non_cqc":
            await self.create_account(provider)
        token = await self.sign_in(provider)
        for code in provider.more_codes:
            await self.think()
            token = await self.sign_in(provider, code)
        await self.think()
        if provider.kind != "non_cqc":
            await self.send("account", "GET", self.url("identity", "/api/account"), headers=token)
        await self.think()
        order_id = await self.order(provider, token)
        await self.think()
        await self.send(
            "order_status", "GET", self.url("orders", f"/api/orders/{order_id}"), headers=token
        )

    def url(self, service: str, path: str) -> str:
        return self.platform.url(service, path)

    async def sign_in(self, provider: Provider, code: str = "") -> dict[str, str]:
        kind = "sign_in_password" if provider.kind == "non_cqc" else "sign_in"
        response = await self.send(
            kind,
            "POST",
            self.url("identity", "/api/sign-in"),
            json={"email": provider.email, "password": code or provider.password},
        )
        if response.status_code != 200:
            raise RuntimeError(f"sign-in refused: {response.status_code}")
        self.tally.sign_ins.append(time.perf_counter())
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def order(self, provider: Provider, token: dict[str, str]) -> str:
        body: dict[str, Any] = {"contact_name": "Launch Day"}
        if provider.kind == "non_cqc":
            body["staff_count"] = provider.lines[0][1]
        else:
            body["lines"] = [{"location_id": loc, "staff_count": n} for loc, n in provider.lines]
            body["deliver_to_location_id"] = provider.lines[0][0]
        orders_url = self.url("orders", "/api/orders")
        patience = Patience(self.tally)
        while patience.lasts():
            started = time.perf_counter()
            response = await self.send("order", "POST", orders_url, json=body, headers=token)
            if response.status_code == 201:
                order_id = str(response.json()["order_id"])
                self.tally.placed_at[order_id] = started
                return order_id
            if response.status_code == 401:
                # The session expired while the provider waited (an outage, or a queue at
                # launch): they sign in again with every code, as the site would ask.
                for code in ["", *provider.more_codes]:
                    token = await self.sign_in(provider, code)
                self.tally.signed_in_again += 1
                continue
            if response.status_code == 409 and "already-ordered" in response.text:
                return await self.find_order(token, started)
            if not _not_ready(response):
                raise RuntimeError(f"order refused: {response.status_code}")
            await patience.try_again()
        raise RuntimeError("locations never became ready")

    async def find_order(self, token: dict[str, str], started: float) -> str:
        """An earlier attempt was stored but its answer lost: the order is in the list."""
        listed = await self.send(
            "order_list", "GET", self.url("orders", "/api/orders"), headers=token
        )
        if listed.status_code != 200 or not listed.json():
            raise RuntimeError(f"order neither placed nor listed: {listed.status_code}")
        order_id = str(listed.json()[0]["order_id"])
        self.tally.placed_at.setdefault(order_id, started)
        self.tally.recovered_orders += 1
        return order_id

    async def create_account(self, provider: Provider) -> None:
        response = await self.send(
            "create_account",
            "POST",
            self.url("identity", "/api/accounts"),
            json=account_form(provider),
        )
        if response.status_code != 202:
            raise RuntimeError(f"account refused: {response.status_code}")
        token = await self.mail.token(provider.email)
        confirmed = await self.send(
            "confirm_account",
            "POST",
            self.url("identity", "/api/accounts/confirm"),
            json={"token": token},
        )
        if confirmed.status_code != 201:
            raise RuntimeError(f"confirmation refused: {confirmed.status_code}")


class Mailbox:
    """The SMTP sink's Maildir, read once per file and at most twice a second.

    At launch scale the folder holds tens of thousands of order emails and hundreds of
    visitors wait for theirs: each rescanning and reparsing it would cost more CPU than the
    platform under test.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: set[str] = set()
        self.tokens: dict[str, str] = {}
        self.scanned_at = 0.0

    def token_for(self, address: str) -> str | None:
        if address not in self.tokens and time.perf_counter() - self.scanned_at > 0.5:
            self.scan()
        return self.tokens.get(address)

    async def token(self, address: str, wait: float = 900) -> str:
        """The token of the email to ``address``, once it arrives (within ``wait`` seconds)."""
        deadline = time.perf_counter() + wait
        while time.perf_counter() < deadline:
            found = self.token_for(address)
            if found:
                return found
            await asyncio.sleep(0.5)
        raise RuntimeError("no confirmation email arrived")

    def scan(self) -> None:
        self.scanned_at = time.perf_counter()
        if not self.folder.exists():
            return
        for entry in os.scandir(self.folder):
            if entry.name in self.seen:
                continue
            self.seen.add(entry.name)
            message = message_from_bytes(Path(entry.path).read_bytes())
            body = message.get_payload(decode=True)
            text = body.decode() if isinstance(body, bytes) else str(message)
            found = re.search(r"token=([A-Za-z0-9_\-]+)", text)
            if found:
                self.tokens.setdefault(parseaddr(str(message["To"]))[1], found.group(1))


async def watch_dispatches(
    platform: PrivatePlatform, tally: Tally
) -> aio_pika.abc.AbstractConnection:
    """Note when each OrderDispatched is published (it commits with the courier handoff)."""
    connection = await aio_pika.connect_robust(platform.rabbit.url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind("care.events", routing_key="order.dispatched")

    async def on_dispatched(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        order_id = json.loads(message.body)["payload"]["order_id"]
        tally.dispatched_at.setdefault(order_id, time.perf_counter())
        await message.ack()

    await queue.consume(on_dispatched)
    return connection


#: Requests the visitors have in flight at once, across the burst. httpcore's pool checks
#: every connection it holds each time it hands one out, so its cost per request grows with
#: the pool: 3.4 ms of the generator's CPU a request at 128, 1.2 at 16 (a trivial server,
#: 1,000 callers). Sixteen still keeps the five services busy: each runs on one core and
#: answers a page in a few milliseconds, so more in flight only queue inside it.
IN_FLIGHT = 16


class SharedClient(httpx.AsyncClient):
    """An HTTP client whose requests wait their turn for one of :data:`IN_FLIGHT` slots.

    httpcore's pool looks through every queued request and every connection each time it
    hands out a connection, so thousands of requests queued in it at once (25,000 visitors
    reloading the waiting room's page) cost the load generator a whole core and made it,
    not the platform, the bottleneck. A semaphore's queue costs nothing per waiter, and the
    pool never holds more requests than connections. A request's time includes its wait for
    a slot, as a browser's includes its wait for a connection.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = asyncio.Semaphore(IN_FLIGHT)

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        async with self._slots:
            return await super().send(request, **kwargs)


def client(cookies: CookieJar | None = None) -> httpx.AsyncClient:
    """The HTTP client a burst's visitors share. Idle connections are dropped before
    uvicorn's 5 s keep-alive closes them, so a request never goes out on a connection the
    server is closing (an httpx ReadError)."""
    limits = httpx.Limits(
        max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT, keepalive_expiry=3
    )
    return SharedClient(timeout=httpx.Timeout(60, pool=None), limits=limits, cookies=cookies)


@contextlib.asynccontextmanager
async def visitors(
    platform: PrivatePlatform, tally: Tally, think: float, admit: int, site: bool
) -> AsyncIterator[Visitor]:
    """The burst's visitors: callers of the JSON APIs, or with ``site`` browsers on the
    orders site's pages, its waiting room watched beside them (bench/launch_site.py)."""
    if site:
        # Imported here: the site's visitors build on this module's.
        from bench.launch_site import site_visitors

        async with site_visitors(platform, tally, think) as browsers:
            yield browsers
        return
    async with client() as http:
        yield Journeys(platform, http, tally, think, admit=admit)


async def run_burst(
    platform: PrivatePlatform,
    providers: list[Provider],
    window: float,
    think: float,
    profiler: Profiler | None,
    admit: int = 0,
    site: bool = False,
) -> dict[str, Any]:
    """The burst; with ``site``, every visitor is a browser on the orders site's pages and
    goes through its waiting room (bench/launch_site.py), else calls the JSON APIs."""
    tally = Tally()
    watcher = await watch_dispatches(platform, tally)
    cpu_before = cpu.snapshot(platform)
    transactions_before = await cpu.transactions(platform)
    rng = random.Random(3)
    async with visitors(platform, tally, think, admit, site) as journeys:
        progress = asyncio.create_task(report_progress(tally, len(providers), journeys))
        try:
            t0 = time.perf_counter()
            arrivals = sorted(t0 + rng.uniform(0, window) for _ in providers)
            order = list(providers)
            rng.shuffle(order)
            if profiler:
                profiler.start(duration=window)
            await asyncio.gather(
                *(journeys.visit(p, at) for p, at in zip(order, arrivals, strict=True))
            )
            last_order = max(tally.placed_at.values(), default=t0)
            burst_seconds = time.perf_counter() - t0
            visitor_figures = await journeys.figures()
        finally:
            progress.cancel()

    urls = platform.database_urls()
    final_at = await wait_until_final(urls, set(tally.placed_at))
    cpu_after = cpu.snapshot(platform)
    await asyncio.sleep(1)  # the last OrderDispatched reaches our watcher; statistics flush
    transactions_after = await cpu.transactions(platform)
    await watcher.close()
    outcome = await reconcile(urls, platform.rabbit.url, tally.placed_at)
    return summarise(tally, t0, burst_seconds, last_order, final_at, outcome.counts) | {
        **visitor_figures,
        "reconciled": outcome.ok,
        "mismatches": outcome.mismatches,
        # Until the backlog drained; the generator's share includes its reconciling reads.
        "cpu_ms_per_order": cpu.per_order(cpu_before, cpu_after, len(tally.placed_at)),
        "transactions_per_order": cpu.per_order(
            dict(transactions_before), dict(transactions_after), len(tally.placed_at), scale=1
        ),
    }


async def report_progress(
    tally: Tally, expected: int, visitors: Visitor, every: float = 60
) -> None:
    """A line a minute, so a long run can be watched (and a stuck one seen) as it goes."""
    t0 = time.perf_counter()
    while True:
        await asyncio.sleep(every)
        print(
            f"  {time.perf_counter() - t0:6.0f} s: {len(tally.sign_ins)} sign-ins, "
            f"{len(tally.placed_at)}/{expected} orders, {len(tally.dispatched_at)} dispatched, "
            f"{sum(tally.errors.values())} errors{visitors.progress()}",
            flush=True,
        )


async def wait_until_final(urls: dict[str, str], accepted: set[str], wait: float = 900) -> float:
    """When every accepted order had a final state (perf_counter), or NaN after ``wait``."""
    deadline = time.perf_counter() + wait
    while time.perf_counter() < deadline:
        states = await final_states(urls)
        if all(o in states and not states[o].startswith("unfinished") for o in accepted):
            return time.perf_counter()
        await asyncio.sleep(1)
    return float("nan")


def summarise(
    tally: Tally,
    t0: float,
    burst_seconds: float,
    last_order: float,
    final_at: float,
    counts: dict[str, Any],
) -> dict[str, Any]:
    done = [o for o in tally.placed_at if o in tally.dispatched_at]
    end_to_end = [tally.dispatched_at[o] - tally.placed_at[o] for o in done]
    first_order = min(tally.placed_at.values(), default=t0)
    last_dispatch = max((tally.dispatched_at[o] for o in done), default=t0)
    sign_in_span = (max(tally.sign_ins) - t0) if tally.sign_ins else 0
    return {
        "orders_accepted": len(tally.placed_at),
        "sign_ins": len(tally.sign_ins),
        "burst_seconds": round(burst_seconds, 1),
        "sign_ins_per_second": round(len(tally.sign_ins) / sign_in_span, 1) if sign_in_span else 0,
        "orders_accepted_per_second": round(len(tally.placed_at) / (last_order - first_order), 1)
        if len(tally.placed_at) > 1
        else 0,
        "orders_dispatched": len(done),
        "orders_per_second_end_to_end": round(len(done) / (last_dispatch - first_order), 1)
        if done
        else 0,
        # Every accepted order, not only those handed off: referred and waitlisted orders are
        # final too, and how many are referred depends on the register, not the platform.
        "orders_per_second_to_a_final_state": round(
            len(tally.placed_at) / (final_at - first_order), 1
        )
        if len(tally.placed_at) > 1 and not math.isnan(final_at)
        else 0,
        "placed_to_handoff_ms": percentiles(end_to_end),
        "placed_to_handoff_mean_ms": round(statistics.fmean(end_to_end) * 1000, 1)
        if end_to_end
        else None,
        "backlog_drained_seconds_after_last_order": round(final_at - last_order, 1),
        "waiting_room_ms": percentiles(tally.waited),
        "request_ms": {kind: percentiles(v) for kind, v in sorted(tally.latency.items())},
        "requests": {kind: len(v) for kind, v in sorted(tally.latency.items())},
        "locations_not_ready_retries": tally.not_ready_retries,
        "signed_in_again_after_expiry": tally.signed_in_again,
        "orders_found_after_a_lost_answer": tally.recovered_orders,
        "errors": dict(tally.errors),
        "final_states": counts,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--providers", type=int, default=600, help="CQC providers who order")
    parser.add_argument("--non-cqc", type=int, default=0, help="non-CQC sign-ups (default 1%%)")
    parser.add_argument("--window", type=float, default=60, help="seconds over which they arrive")
    parser.add_argument("--think", type=float, default=2.0, help="mean think time, seconds")
    parser.add_argument("--stock-share", type=float, default=0.97, help="of the badges ordered")
    parser.add_argument(
        "--admit",
        type=int,
        default=0,
        help="API mode: visitors on at once, the rest queued in the load generator itself "
        "(a semaphore, not the product's waiting room; default: no limit)",
    )
    parser.add_argument(
        "--site",
        action="store_true",
        help="visitors use the orders site's pages as browsers, through its waiting room",
    )
    parser.add_argument(
        "--room-limit",
        type=int,
        help="with --site: visitors in the order journey at once (CARE_ORDERS_WAITING_ROOM_LIMIT)",
    )
    parser.add_argument(
        "--room-rate",
        type=float,
        help="with --site: most visitors let in per second, 0 for no limit "
        "(CARE_ORDERS_WAITING_ROOM_ADMIT_PER_SECOND)",
    )
    parser.add_argument("--out", default="launch.json", help="file name in bench/results/")
    harness.add_platform_options(parser)
    args = parser.parse_args()
    if args.site and args.admit:
        parser.error("--admit is the generator's own queue: with --site the site's room admits")
    if not args.site and (args.room_limit is not None or args.room_rate is not None):
        parser.error("--room-limit and --room-rate are the site's waiting room: add --site")

    non_cqc = args.non_cqc or max(1, args.providers // 100)
    settings = harness.settings_from(args)
    if args.room_limit is not None:
        settings["CARE_ORDERS_WAITING_ROOM_LIMIT"] = str(args.room_limit)
    if args.room_rate is not None:
        settings["CARE_ORDERS_WAITING_ROOM_ADMIT_PER_SECOND"] = str(args.room_rate)
    from bench.launch_site import room_settings  # it builds on this module

    async with harness.started(args.providers, non_cqc, args.stock_share, settings) as run:
        platform, providers = run.platform, run.providers
        ceiling = await harness.raw_ceiling(platform, args.raw_messages)
        profiler = harness.profiler_for(platform, args, args.out)
        figures = await run_burst(
            platform, providers, args.window, args.think, profiler, args.admit, args.site
        )
    if profiler:
        figures["profile"] = profiler.summary()

    figures = {
        "label": args.label,
        "providers": {
            kind: sum(1 for p in providers if p.kind == kind)
            for kind in ("cqc_single", "cqc_multi", "cqc_postcode", "non_cqc")
        },
        "settings": settings,
        # api: the JSON APIs, --admit the generator's own semaphore; site: the site's pages
        # through the product's waiting room, with the room's settings below.
        "mode": "site" if args.site else "api",
        "waiting_room_settings": room_settings(settings) if args.site else None,
        "window_seconds": args.window,
        "think_mean_seconds": args.think,
        "admitted_at_once": args.admit or None,
        "stock": run.stock,
        **figures,
        "raw_hop_ceiling": ceiling,
        "efficiency_end_to_end_vs_raw_hop": round(
            figures["orders_per_second_end_to_end"] / ceiling["hops_per_second"], 3
        ),
        "machine": harness.machine(),
    }
    harness.write_results(args.out, figures)
    if not figures["reconciled"]:
        sys.exit("the counts do not reconcile: " + "; ".join(figures["mismatches"]))


if __name__ == "__main__":
    # Run as bench.launch, the module bench/launch_site.py builds on, so the script and the
    # site mode share one copy of its classes rather than two.
    from bench import launch

    asyncio.run(launch.main())
