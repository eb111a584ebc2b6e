"""How fast reporting answers over the figures of 1,000,000 orders.

Seeds a fresh reporting database with what a million orders leave in it: every order is given
a life (placed over six months across England's regions, local authorities and organisation
types; verified or referred, some rejected, cancelled or waitlisted; dispatched and mostly
delivered), its contribution is computed by the service's own domain code
(``order_figures``), and the summed counters are loaded with COPY, together with a million
rows of per-order state. Then it times each JSON, CSV and page endpoint through the real app
(in process, over ASGI, so the time is the service's own: queries, suppression, rendering) and
prints p50/p95 per endpoint, writing them to bench/results/reporting.json.

    .venv/bin/python bench/reporting_queries.py --orders 1000000 --requests 40

The event log is not seeded: no endpoint reads it (only a rebuild does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.reporting.domain.facts import (  # noqa: E402
    CQC_REGISTERED,
    LOCAL_AUTHORITY,
    NON_CQC_PROVIDER,
    NOT_CQC_REGISTERED,
    NOT_KNOWN,
)
from services.reporting.domain.progress import (  # noqa: E402
    DIMENSIONS,
    Dims,
    OrderState,
    day_of,
    order_figures,
    second_of,
)
from services.reporting.store.repository import series_literal  # noqa: E402
from shared.store.migrations import ensure_database, upgrade  # noqa: E402
from tests.support import infra  # noqa: E402
from tests.support.keys import bearer, keypair, mint  # noqa: E402

REGIONS = (
    "London",
    "South East",
    "South West",
    "East of England",
    "East Midlands",
    "West Midlands",
    "Yorkshire and The Humber",
    "North West",
    "North East",
)
CQC_TYPES = (
    "Residential care",
    "Community-based care",
    "Hospice",
    "Substance misuse service",
    "Mental health service",
)
LAS_PER_REGION = 17
DAYS = 180

ENDPOINTS = (
    "/api/mi/summary",
    "/api/mi/figures",
    "/api/mi/figures.csv",
    "/api/mi/daily",
    "/api/mi/daily.csv",
    "/api/mi/breakdowns/region",
    "/api/mi/breakdowns/local_authority",
    "/api/mi/breakdowns/local_authority.csv",
    "/api/mi/breakdowns/org_type",
    "/api/mi/breakdowns/cqc.csv",
    "/api/mi/breakdowns/region/daily?metric=badges_placed",
    "/api/mi/breakdowns/local_authority/daily?metric=orders_placed",
    "/api/mi/breakdowns/local_authority/daily.csv?metric=orders_dispatched",
    "/mi",
)


def synthetic_order(rng: random.Random, start: datetime, now: datetime) -> OrderState:
    """One order's life, as reporting would know it once every event has arrived."""
    placed = start + timedelta(seconds=rng.random() * (now - start).total_seconds())
    region = rng.choice(REGIONS)
    la = f"{region} LA {rng.randrange(LAS_PER_REGION)}"
    kind = rng.random()
    if kind < 0.80:
        dims = Dims(region, la, rng.choice(CQC_TYPES), CQC_REGISTERED)
    elif kind < 0.95:
        dims = Dims(NOT_KNOWN, NOT_KNOWN, NON_CQC_PROVIDER, NOT_CQC_REGISTERED)
    else:
        dims = Dims(region, la, LOCAL_AUTHORITY, NOT_CQC_REGISTERED)
    # About one badge an order on average, so a million orders are near the 1.5 million staff.
    quantity = min(int(rng.lognormvariate(0, 0.9)) + 1, 2000)
    state: dict[str, Any] = {"placed_at": placed, "quantity": quantity, "dims": dims}

    def later(hours: float) -> datetime | None:
        moment = placed + timedelta(hours=hours)
        return moment if moment < now else None

    if rng.random() < 0.03:
        state["cancelled_at"] = later(rng.uniform(0.1, 48))
    referred = dims.cqc == NOT_CQC_REGISTERED or rng.random() < 0.05
    decided: datetime | None
    if referred:
        state["referred_at"] = later(0.01)
        outcome = rng.random()
        decided = later(rng.uniform(1, 96))
        if outcome < 0.25:
            state["rejected_at"] = decided
            decided = None
        elif outcome < 0.95:
            state["verified_at"] = decided
        else:
            decided = None  # still waiting for a reviewer
    else:
        decided = state["verified_at"] = later(0.01)
    if rng.random() < 0.04:
        state["waitlisted_at"] = later(0.01)
        state["waitlisted_quantity"] = quantity
        state["reserved_at"] = later(rng.uniform(24, 240))
    else:
        state["reserved_at"] = later(0.01)
    if decided and state.get("reserved_at") and not state.get("cancelled_at"):
        ready = max(decided, state["reserved_at"])
        dispatched = ready + timedelta(hours=rng.uniform(0.05, 6))
        if dispatched < now:
            state["dispatched_at"] = dispatched
            state["dispatched_quantity"] = quantity
            state["parcels"] = max(1, quantity // 100 + 1)
            if rng.random() < 0.95:
                delivered = dispatched + timedelta(hours=rng.uniform(18, 72))
                state["delivered_at"] = delivered if delivered < now else None
    return OrderState(**{k: v for k, v in state.items() if v is not None})


def seed_counters(orders: int, seed: int) -> tuple[dict[str, list[tuple[Any, ...]]], list[str]]:
    """The counter tables' rows for ``orders`` synthetic orders, and their states as JSON."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(days=DAYS)
    national: dict[tuple[date, str], int] = defaultdict(int)
    by_day: dict[tuple[str, str, str, date], int] = defaultdict(int)
    totals: dict[tuple[str, str, str], int] = defaultdict(int)
    durations: dict[tuple[date, int], int] = defaultdict(int)
    open_items: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0, 0])
    states: list[str] = []
    for _ in range(orders):
        state = synthetic_order(rng, start, now)
        states.append(json.dumps(state.to_json()))
        figures = order_figures(state)
        for (day, metric, dims), amount in figures.counts.items():
            national[(day, metric)] += amount
            assert dims is not None
            for dimension, value in zip(DIMENSIONS, dims, strict=True):
                by_day[(dimension, metric, value, day)] += amount
                totals[(dimension, metric, value)] += amount
        for key, n in figures.dispatch_durations.items():
            durations[key] += n
        for key, (o, b) in figures.open_items.items():
            open_items[key][0] += o
            open_items[key][1] += b
        if state.reserved_at:
            national[(day_of(state.reserved_at), "stock_reserved")] += state.quantity
        if state.dispatched_at:
            national[(day_of(state.dispatched_at), "stock_allocated")] += state.dispatched_quantity
        if state.reserved_at and (state.rejected_at or state.cancelled_at):
            closed = state.rejected_at or state.cancelled_at
            assert closed is not None
            national[(day_of(closed), "stock_released")] += state.quantity
    # Deliveries of stock every fortnight, a little ahead of demand.
    demand = sum(v for (_, m), v in national.items() if m == "badges_placed")
    for k in range(DAYS // 14 + 1):
        national[((start + timedelta(days=14 * k)).date(), "stock_received")] += int(
            demand * 1.1 / (DAYS // 14 + 1)
        )
    for k in range(orders // 20):
        national[(day_of(start + timedelta(hours=k % (DAYS * 24))), "accounts_registered")] += 1
    return {
        "daily_figures": [(d, m, v) for (d, m), v in national.items()],
        "daily_breakdown": [(dim, m, val, d, v) for (dim, m, val, d), v in by_day.items()],
        "breakdown_totals": [(dim, m, val, v) for (dim, m, val), v in totals.items()],
        "dispatch_durations": [(d, b, n) for (d, b), n in durations.items()],
        "open_items": [(k, second_of(s), o, b) for (k, s), (o, b) in open_items.items() if o],
    }, states


async def load(url: str, rows: dict[str, list[tuple[Any, ...]]], states: list[str]) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for table, records in rows.items():
            if table == "daily_breakdown":
                # One row per series, its days as an array starting at the first day.
                series: dict[tuple[str, str, str], dict[int, int]] = defaultdict(dict)
                for dimension, metric, value, day, n in records:
                    series[(dimension, metric, value)][day.toordinal()] = n
                await conn.executemany(
                    "INSERT INTO daily_breakdown VALUES ($1, $2, $3, $4::text::integer[])",
                    [
                        (
                            *key,
                            series_literal(
                                min(days), [days.get(d, 0) for d in range(min(days), max(days) + 1)]
                            ),
                        )
                        for key, days in series.items()
                    ],
                )
                continue
            await conn.copy_records_to_table(table, records=records)
        await conn.copy_records_to_table(
            "order_progress", records=[(s,) for s in states], columns=["state"]
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def time_endpoints(url: str, requests: int) -> dict[str, dict[str, float]]:
    os.environ["CARE_TOKEN_PUBLIC_KEY"] = keypair().public_pem
    from services.reporting.app import create_app
    from services.reporting.settings import ReportingSettings

    app = create_app(ReportingSettings(database_url=url, migrate_on_start=False))
    headers = bearer(mint("dhsc_analyst"))
    results: dict[str, dict[str, float]] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://reporting") as client:
        for path in ENDPOINTS:
            for _ in range(3):  # warm the connection pool and PostgreSQL's cache
                response = await client.get(path, headers=headers)
                assert response.status_code == 200, (path, response.text[:300])
            took = []
            for _ in range(requests):
                started = time.perf_counter()
                response = await client.get(path, headers=headers)
                took.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            results[path] = {
                "p50_ms": round(statistics.median(took), 1),
                "p95_ms": round(percentile(took, 95), 1),
                "max_ms": round(max(took), 1),
                "bytes": len(response.content),
            }
            print(
                f"{path:<72} p50 {results[path]['p50_ms']:>7.1f} ms   "
                f"p95 {results[path]['p95_ms']:>7.1f} ms",
                flush=True,
            )
    await app.state.service.db.dispose()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "reporting.json")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    parser.add_argument(
        "--database", help="time an already seeded (kept) database instead of seeding one"
    )
    args = parser.parse_args()

    if args.database:
        url = f"{infra.PG}/{args.database}"
        timings = await time_endpoints(url, args.requests)
        print(f"worst p95 {max(t['p95_ms'] for t in timings.values()):.1f} ms (not written)")
        return
    name = f"care_reporting_bench_{infra.unique_suffix()}"
    url = f"{infra.PG}/{name}"
    await ensure_database(url)
    await upgrade(ROOT / "services" / "reporting" / "store" / "migrations", url)
    try:
        started = time.perf_counter()
        rows, states = seed_counters(args.orders, args.seed)
        computed = time.perf_counter() - started
        await load(url, rows, states)
        loaded = time.perf_counter() - started - computed
        counts = {table: len(records) for table, records in rows.items()}
        counts["daily_breakdown_days"] = counts.pop("daily_breakdown")
        counts["order_progress"] = len(states)
        print(
            f"seeded {args.orders:,} orders: {counts} "
            f"(computed in {computed:.0f} s, loaded in {loaded:.0f} s)",
            flush=True,
        )
        del rows, states
        load_before = os.getloadavg()[0]
        timings = await time_endpoints(url, args.requests)
        load_after = os.getloadavg()[0]
    finally:
        if not args.keep:
            await infra.drop_databases([name])
    worst = max(t["p95_ms"] for t in timings.values())
    result = {
        "orders": args.orders,
        "requests_per_endpoint": args.requests,
        "rows": counts,
        "endpoints": timings,
        "worst_p95_ms": worst,
        "under_100_ms": worst < 100,
        "how": "in process over ASGI against PostgreSQL on the same machine; see the docstring",
        "machine": {
            "cores": os.cpu_count(),
            # Other work on the machine slows every figure: note how busy it was.
            "load_average_before_and_after": [round(load_before, 2), round(load_after, 2)],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"worst p95 {worst:.1f} ms; written to {args.out}")


if __name__ == "__main__":
    asyncio.run(main())
