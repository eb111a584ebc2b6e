"""How many orders per second the platform sustains, and what each one costs.

The launch benchmark's orders/s is bounded by its waiting room and think times, so it hides
the ceiling. This one drives a closed loop with no think time and no waiting room: N clients,
each taking the next distinct CQC provider from launch day's generated register
(bench/launch_register.py), signing in (with every code, for a multi-location provider) and
placing their order, then straight on to the next provider. N rises in steps (``--steps``);
each step is held ``--step-seconds`` and measured after ``--warmup`` seconds, so its figures
are steady. The climb stops after the first step whose accepted order POSTs have a p99 above
``--p99-ms`` (300 ms), or in which anything failed.

For each step it reports orders accepted and orders handed to the courier per second (the
courier queue's depth, as the reconciliation reads it: the platform's own end of the saga),
order and sign-in latencies, and per order accepted in the window: CPU milliseconds of each
service, PostgreSQL, RabbitMQ and the load generator (bench/cpu.py, from /proc), database
transactions across the platform's databases (pg_stat_database), and messages published,
routed, delivered and acked (the broker's global counters). The capacity is the highest
handed-off rate of a step that passed, set beside the raw one-hop ceiling (bench/raw_hop.py)
measured on the same broker and database just before the climb. After the last step the
backlog drains and every order is reconciled exactly (tests/support/reconcile.py).

Before the first step the platform is measured idle (``--idle-seconds``): its timers and
relays cost CPU and transactions with nobody ordering, a large share of each order at a few
orders per second, so each step also gives CPU per order beyond that idle rate.

On a shared machine the rates move with whatever else runs; CPU per order does not.

    .venv/bin/python bench/capacity.py --label before               # steps 2,4,8,16,32 of 30 s
    .venv/bin/python bench/capacity.py --steps 2,4,8 --step-seconds 20 --label small
    .venv/bin/python bench/capacity.py --profile orders,identity --set NAME=VALUE
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import re
import sys
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import aio_pika
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import cpu, harness, statements  # noqa: E402
from bench.harness import percentiles  # noqa: E402
from bench.launch import Journeys, Tally, wait_until_final  # noqa: E402
from bench.launch_register import Provider  # noqa: E402
from bench.profiling import Profiler  # noqa: E402
from tests.support.private_platform import PrivatePlatform  # noqa: E402
from tests.support.reconcile import COURIER_QUEUE, reconcile  # noqa: E402

DEFAULT_STEPS = "2,4,8,16,32"
#: Ports above the launch benchmark's, so the two can never answer each other's load.
FIRST_OFFSET = 740


@dataclass
class StepTally(Tally):
    """The launch generator's tally, with when each request finished and how it ended, so a
    step's window can be cut out of one continuous run."""

    #: (finished at, kind, seconds, status) for every answered request.
    finished: list[tuple[float, str, float, int]] = field(default_factory=list)
    #: (accepted at, seconds from the first POST to the 201, not-ready retries included).
    accepted: list[tuple[float, float]] = field(default_factory=list)

    async def timed(self, kind: str, request: Any) -> httpx.Response:
        response = await super().timed(kind, request)
        # Tally.timed appended this request's latency last, with no await since.
        latency = self.latency[kind][-1]
        self.finished.append((time.perf_counter(), kind, latency, response.status_code))
        return response

    def between(self, start: float, end: float, kind: str, status: int) -> list[float]:
        """Latencies of ``kind`` requests answered ``status`` within [start, end)."""
        return [
            s
            for at, k, s, code in self.finished
            if k == kind and code == status and start <= at < end
        ]


@dataclass
class Snapshot:
    """Every counter the figures are differences of, read at one moment."""

    at: float
    cpu: dict[str, float]
    transactions: dict[str, int]
    messages: dict[str, int]
    handed_off: int
    errors: Counter[str]
    not_ready_retries: int
    accepted: int
    #: Statements each database ran so far, when they are counted (``--statements``).
    census: statements.Census = field(default_factory=dict)


class Meter:
    """Reads the counters: /proc, pg_stat_database, the broker's counters, the courier queue."""

    def __init__(
        self, platform: PrivatePlatform, tally: StepTally, count_statements: bool = False
    ) -> None:
        self.platform = platform
        self.tally = tally
        self.count_statements = count_statements
        self.connection: aio_pika.abc.AbstractConnection | None = None

    async def __aenter__(self) -> Meter:
        self.connection = await aio_pika.connect(self.platform.rabbit.url)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.connection:
            await self.connection.close()

    async def handed_off(self) -> int:
        """Handoffs waiting in the courier's queue (nothing consumes it here): a passive
        declare reads the depth without taking or copying a message."""
        assert self.connection is not None
        channel = await self.connection.channel()
        try:
            queue = await channel.declare_queue(COURIER_QUEUE, passive=True)
            return int(queue.declaration_result.message_count or 0)
        finally:
            await channel.close()

    async def read(self) -> Snapshot:
        """Every counter as near one moment as they can be read. rabbitmqctl starts a VM of
        its own (a second or more on a busy machine) and asks the broker at its end, so it
        goes first and the quick reads follow straight after it."""
        messages = await cpu.messages(self.platform)
        at = time.perf_counter()
        errors = Counter(self.tally.errors)
        not_ready, accepted = self.tally.not_ready_retries, len(self.tally.accepted)
        cpu_seconds = cpu.snapshot(self.platform)
        handed_off, transactions = await asyncio.gather(
            self.handed_off(), cpu.transactions(self.platform)
        )
        census = await statements.read(self.platform.postgres.url) if self.count_statements else {}
        return Snapshot(
            at, cpu_seconds, transactions, messages, handed_off, errors, not_ready, accepted, census
        )


@dataclass
class Idle:
    """What the platform spends per second with nobody ordering: its timers, relays and
    housekeeping. At a few orders per second this is a large share of CPU per order, so each
    step also reports CPU per order beyond it."""

    seconds: float
    cpu_ms_per_second: dict[str, float]
    transactions_per_second: dict[str, float]
    messages_per_second: dict[str, float]

    @classmethod
    def between(cls, before: Snapshot, after: Snapshot) -> Idle:
        seconds = after.at - before.at

        def rate(a: dict[str, Any], b: dict[str, Any], scale: float = 1) -> dict[str, float]:
            return {k: round((b[k] - a[k]) * scale / seconds, 2) for k in b if k in a}

        return cls(
            round(seconds, 1),
            rate(before.cpu, after.cpu, 1000),
            rate(before.transactions, after.transactions),
            rate(before.messages, after.messages),
        )


def stop_reason(order_p99_ms: float | None, errors: int, ran_out: bool, limit_ms: float) -> str:
    """Why the climb ends after this step ("" to go on): the providers ran out (the load
    fell, so the step says nothing), anything failed, no order was accepted, or the accepted
    order POSTs' p99 passed the limit."""
    if ran_out:
        return "the providers ran out before the step ended (raise --providers)"
    if errors:
        return f"{errors} errors"
    if order_p99_ms is None:
        return "no order was accepted"
    if order_p99_ms > limit_ms:
        return f"order POST p99 {order_p99_ms} ms > {limit_ms:g} ms"
    return ""


def capacity(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The step that passed with the most orders handed to the courier per second: the
    highest load sustained within the latency limit (None if no step passed)."""
    passed = [s for s in steps if s["passed"]]
    return max(passed, key=lambda s: s["orders_handed_off_per_second"], default=None)


def statement_figures(before: Snapshot, after: Snapshot, orders: int, top: int) -> dict[str, Any]:
    """Statements per order, when they were counted."""
    if not after.census:
        return {}
    return {"statements_per_order": statements.per_order(before.census, after.census, orders, top)}


def step_figures(
    clients: int,
    before: Snapshot,
    after: Snapshot,
    tally: StepTally,
    ran_out: bool,
    limit_ms: float,
    idle: Idle | None = None,
) -> dict[str, Any]:
    """One step's window: rates, latencies, and each cost per order accepted in it (CPU also
    beyond what the platform spends idle, when the idle rate is known)."""
    seconds = after.at - before.at
    accepted = after.accepted - before.accepted
    handed_off = after.handed_off - before.handed_off
    orders = tally.between(before.at, after.at, "order", 201)
    order_ms = percentiles(orders)
    errors = after.errors - before.errors
    reason = stop_reason(order_ms.get("p99"), sum(errors.values()), ran_out, limit_ms)
    until_accepted = [s for at, s in tally.accepted if before.at <= at < after.at]
    return {
        "clients": clients,
        "window_seconds": round(seconds, 1),
        "orders_accepted": accepted,
        "orders_accepted_per_second": round(accepted / seconds, 1),
        "orders_handed_off": handed_off,
        "orders_handed_off_per_second": round(handed_off / seconds, 1),
        "order_ms": order_ms,
        "order_until_accepted_ms": percentiles(until_accepted),
        "sign_in_ms": percentiles(tally.between(before.at, after.at, "sign_in", 200)),
        "not_ready_retries": after.not_ready_retries - before.not_ready_retries,
        "errors": dict(errors),
        "cpu_ms_per_order": with_platform_total(cpu.per_order(before.cpu, after.cpu, accepted)),
        "transactions_per_order": cpu.per_order(
            dict(before.transactions), dict(after.transactions), accepted, scale=1
        ),
        "messages_per_order": messages_per_order(before.messages, after.messages, accepted),
        **statement_figures(before, after, accepted, top=0),
        "beyond_idle": beyond_idle(before, after, accepted, idle),
        "passed": not reason,
        "stopped_because": reason,
    }


def with_platform_total(spent: dict[str, float]) -> dict[str, float]:
    """CPU per order with the platform's own total beside the total with the generator."""
    if spent:
        spent["total_without_load_generator"] = round(
            spent["total"] - spent.get("load_generator", 0.0), 1
        )
    return spent


def beyond_idle(
    before: Snapshot, after: Snapshot, orders: int, idle: Idle | None
) -> dict[str, dict[str, float]]:
    """CPU ms and transactions per order once what the platform spends idle over the same
    window is taken off (empty without an idle measurement)."""
    if idle is None:
        return {"cpu_ms_per_order": {}, "transactions_per_order": {}}
    seconds = after.at - before.at
    cpu_base = {
        k: before.cpu.get(k, 0.0) + idle.cpu_ms_per_second.get(k, 0.0) * seconds / 1000
        for k in after.cpu
    }
    xact_base = {
        k: before.transactions.get(k, 0) + idle.transactions_per_second.get(k, 0.0) * seconds
        for k in after.transactions
    }
    return {
        "cpu_ms_per_order": with_platform_total(cpu.per_order(cpu_base, after.cpu, orders)),
        "transactions_per_order": cpu.per_order(
            xact_base, dict(after.transactions), orders, scale=1
        ),
    }


def messages_per_order(
    before: dict[str, int], after: dict[str, int], orders: int
) -> dict[str, float]:
    if not orders or not before or not after:  # no order, or the broker's counters unread
        return {}
    return {k: round((after[k] - before[k]) / orders, 1) for k in after}


async def client(
    journeys: Journeys, tally: StepTally, pool: deque[Provider], stop: asyncio.Event
) -> None:
    """One closed-loop client: the next provider signs in and orders, with no pause between."""
    while not stop.is_set() and pool:
        provider = pool.popleft()
        try:
            token = await journeys.sign_in(provider)
            for code in provider.more_codes:
                token = await journeys.sign_in(provider, code)
            started = time.perf_counter()
            await journeys.order(provider, token)
            now = time.perf_counter()
            tally.accepted.append((now, now - started))
        except (httpx.HTTPError, RuntimeError) as exc:
            tally.errors[f"journey: {type(exc).__name__}: {str(exc)[:80]}"] += 1


async def climb(
    platform: PrivatePlatform,
    providers: list[Provider],
    steps: list[int],
    step_seconds: float,
    warmup: float,
    limit_ms: float,
    profiler: Profiler | None,
    idle_seconds: float = 10,
    count_statements: bool = False,
) -> dict[str, Any]:
    """Measure the platform idle; raise the clients step by step until a step fails; then
    drain, measure and reconcile."""
    tally = StepTally()
    pool = deque(providers)
    stop = asyncio.Event()
    # Idle connections are dropped before uvicorn's 5 s keep-alive closes them (launch.py).
    limits = httpx.Limits(
        max_connections=max(steps) * 2 + 10,
        max_keepalive_connections=max(steps) * 2 + 10,
        keepalive_expiry=3,
    )
    figures: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(60, pool=None), limits=limits) as http,
        Meter(platform, tally, count_statements) as meter,
    ):
        journeys = Journeys(platform, http, tally, think=0)
        clients: list[asyncio.Task[None]] = []
        quiet = await meter.read()
        await asyncio.sleep(idle_seconds)
        first = await meter.read()
        idle = Idle.between(quiet, first)
        if profiler:
            profiler.start(duration=len(steps) * step_seconds)
        for n in steps:
            started = time.perf_counter()
            clients += [
                asyncio.create_task(client(journeys, tally, pool, stop))
                for _ in range(n - len(clients))
            ]
            await sleep_until(started + warmup)
            before = await meter.read()
            await sleep_until(max(started + step_seconds, time.perf_counter() + 1))
            after = await meter.read()
            step = step_figures(n, before, after, tally, not pool, limit_ms, idle)
            figures.append(step)
            print(
                f"  {n:4d} clients: {step['orders_accepted_per_second']:6.1f} accepted/s, "
                f"{step['orders_handed_off_per_second']:6.1f} handed off/s, order p99 "
                f"{step['order_ms'].get('p99')} ms, "
                f"{step['cpu_ms_per_order'].get('total_without_load_generator')} ms CPU/order "
                f"({step['beyond_idle']['cpu_ms_per_order'].get('total_without_load_generator')}"
                f" beyond idle) {step['stopped_because']}",
                flush=True,
            )
            if not step["passed"]:
                break
        stop.set()
        await asyncio.gather(*clients)  # each finishes the provider it is serving
        last_order = max((at for at, _ in tally.accepted), default=first.at)
        urls = platform.database_urls()
        final_at = await wait_until_final(urls, set(tally.placed_at))
        drained = await meter.read()
    outcome = await reconcile(urls, platform.rabbit.url, tally.placed_at)
    best = capacity(figures)
    fastest = max(figures, key=lambda s: s["orders_handed_off_per_second"])
    whole = len(tally.placed_at)
    return {
        "idle": asdict(idle),
        "steps": figures,
        "stopped_because": figures[-1]["stopped_because"] or "every step passed",
        "capacity": best,
        # Over the limit, but what the platform did at its fastest: on a busy machine even
        # the first step may miss the limit, and this still says where the ceiling lies.
        "fastest_step": {
            k: fastest[k] for k in ("clients", "orders_handed_off_per_second", "order_ms", "passed")
        },
        "whole_run": {
            # From before the first step until the backlog drained: every order's whole
            # saga, the 1 s polls for final states included (a few transactions).
            "orders_accepted": whole,
            "providers_left": len(pool),
            "backlog_drained_seconds_after_last_order": round(final_at - last_order, 1)
            if not math.isnan(final_at)
            else None,
            "cpu_ms_per_order": with_platform_total(cpu.per_order(first.cpu, drained.cpu, whole)),
            "transactions_per_order": cpu.per_order(
                dict(first.transactions), dict(drained.transactions), whole, scale=1
            ),
            "messages_per_order": messages_per_order(first.messages, drained.messages, whole),
            **statement_figures(first, drained, whole, top=12),
        },
        "reconciled": outcome.ok,
        "mismatches": outcome.mismatches,
        "final_states": outcome.counts,
    }


async def sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.perf_counter()))


def parse_steps(text: str) -> list[int]:
    """``2,4,8`` as clients per step: rising, each at least one."""
    steps = [int(part) for part in text.split(",") if part.strip()]
    if not steps or steps[0] < 1 or any(b <= a for a, b in pairwise(steps)):
        raise argparse.ArgumentTypeError(f"steps must rise from 1 or more: {text!r}")
    return steps


def results_name(label: str) -> str:
    """bench/results/capacity-<label>.json, the label made safe as a file name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-.")
    return f"capacity-{safe}.json" if safe else "capacity.json"


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=parse_steps, default=parse_steps(DEFAULT_STEPS))
    parser.add_argument("--step-seconds", type=float, default=30, help="each step's length")
    parser.add_argument("--warmup", type=float, default=5, help="seconds before each window")
    parser.add_argument(
        "--idle-seconds", type=float, default=10, help="the platform measured idle first"
    )
    parser.add_argument("--p99-ms", type=float, default=300, help="order POST p99 limit")
    parser.add_argument(
        "--providers", type=int, default=10_000, help="CQC providers in the pool (one order each)"
    )
    parser.add_argument("--stock-share", type=float, default=1.0, help="of the badges asked for")
    parser.add_argument(
        "--statements",
        action="store_true",
        help="count each database's statements per order (pg_stat_statements; costs a little)",
    )
    harness.add_platform_options(parser)
    args = parser.parse_args()

    settings = harness.settings_from(args)
    out = results_name(args.label)
    extra = statements.POSTGRES_SETTINGS if args.statements else ()
    async with harness.started(
        args.providers, 0, args.stock_share, settings, FIRST_OFFSET, extra
    ) as run:
        providers = list(run.providers)
        random.Random(3).shuffle(providers)
        ceiling = await harness.raw_ceiling(run.platform, args.raw_messages)
        profiler = harness.profiler_for(run.platform, args, out)
        print(f"==> closed loop, steps {args.steps} of {args.step_seconds:g} s", flush=True)
        figures = await climb(
            run.platform,
            providers,
            args.steps,
            step_seconds=args.step_seconds,
            warmup=args.warmup,
            limit_ms=args.p99_ms,
            profiler=profiler,
            idle_seconds=args.idle_seconds,
            count_statements=args.statements,
        )
    if profiler:
        figures["profile"] = profiler.summary()
    best = figures["capacity"]
    figures = {
        "label": args.label,
        "commit": harness.commit(),
        "settings": settings,
        "steps_asked": args.steps,
        "step_seconds": args.step_seconds,
        "warmup_seconds": args.warmup,
        "order_p99_limit_ms": args.p99_ms,
        "statements_counted": args.statements,
        "providers_in_pool": Counter(p.kind for p in run.providers),
        "stock": run.stock,
        "capacity_orders_per_second": best["orders_handed_off_per_second"] if best else 0,
        "raw_hop_ceiling": ceiling,
        "capacity_vs_raw_hop": round(
            (best["orders_handed_off_per_second"] if best else 0) / ceiling["hops_per_second"], 4
        ),
        **figures,
        "machine": harness.machine(),
    }
    harness.write_results(out, figures)
    if not figures["reconciled"]:
        sys.exit("the counts do not reconcile: " + "; ".join(figures["mismatches"]))


if __name__ == "__main__":
    asyncio.run(main())
