"""What reporting's projection costs per order: client CPU, PostgreSQL's CPU and statements.

Runs the events of ``--orders`` orders (an order's feed as reporting sees it:
AccountRegisteredForReporting, OrderPlacedForReporting, OrderVerified, StockReserved,
OrderDispatched) through the service's own handler code (``projection.record``) in consumer
transactions of ``--batch`` deliveries each (1: every delivery alone, as at two clients; more:
group commit sharing a transaction), with ``--in-flight`` orders' steps interleaved, on a
private PostgreSQL cluster, into a freshly migrated reporting database per round. Prints, per
order, this process's CPU, the cluster's CPU (postmaster and backends, from /proc), and the
statements sent (SQLAlchemy executions and asyncpg prepared fetches, each one round trip), best
of ``--rounds`` rounds, and writes them to bench/results/<--out>.

Only the projection is measured: no broker, no inbox claim, no envelope parsing. Run it from
two checkouts (the same script copied into each) to compare code:

    .venv/bin/python bench/reporting_projection.py --orders 1000 --batch 1,5 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from bench.cpu import _children, cpu_seconds  # noqa: E402
from bench.harness import write_results  # noqa: E402
from services.reporting.usecases import projection  # noqa: E402
from shared.events import (  # noqa: E402
    AccountKind,
    AccountRegisteredForReporting,
    Envelope,
    OrderDispatched,
    OrderPlacedForReporting,
    OrderVerified,
    StockReserved,
    wrap,
)
from shared.store.db import Database  # noqa: E402
from shared.store.migrations import ensure_database, upgrade  # noqa: E402
from tests.support.private_infra import PrivatePostgres, private_root  # noqa: E402
from tests.support.round_trips import recording  # noqa: E402

MIGRATIONS = ROOT / "services" / "reporting" / "store" / "migrations"
REGIONS = ("London", "South East", "North West", "Yorkshire and The Humber")
AUTHORITIES = ("Camden", "Kent", "Leeds", "Manchester", "Barnet", "Surrey")
ORG_TYPES = ("Care home", "Hospice", "Domiciliary care")


def order_events(n: int) -> list[list[Envelope[Any]]]:
    """Each order's events, in the order the platform sends them."""
    orders: list[list[Envelope[Any]]] = []
    for i in range(n):
        order_id = uuid.uuid4()
        kind = AccountKind.CQC if i % 10 else AccountKind.NON_CQC
        orders.append(
            [
                wrap(AccountRegisteredForReporting(kind=kind), "bench"),
                wrap(
                    OrderPlacedForReporting(
                        order_id=order_id,
                        placed_at=datetime.now(UTC),
                        quantity=1 + i % 7,
                        account_kind=kind,
                        organisation_type=ORG_TYPES[i % len(ORG_TYPES)],
                        region=REGIONS[i % len(REGIONS)],
                        local_authority=AUTHORITIES[i % len(AUTHORITIES)],
                    ),
                    "bench",
                ),
                wrap(OrderVerified(order_id=order_id, decided_by="automatic"), "bench"),
                wrap(StockReserved(order_id=order_id, quantity=1 + i % 7), "bench"),
                wrap(
                    OrderDispatched(
                        order_id=order_id,
                        shipment_reference=f"S{i}",
                        parcel_count=1,
                        quantity=1 + i % 7,
                    ),
                    "bench",
                ),
            ]
        )
    return orders


def delivery_stream(orders: list[list[Envelope[Any]]], in_flight: int) -> list[Envelope[Any]]:
    """Deliveries as they arrive with ``in_flight`` orders under way: each step of a group of
    orders before the next step of any of them."""
    stream: list[Envelope[Any]] = []
    for start in range(0, len(orders), in_flight):
        group = orders[start : start + in_flight]
        for step in range(len(group[0])):
            stream.extend(events[step] for events in group)
    return stream


def cluster_cpu(postgres: PrivatePostgres) -> float:
    postmaster = int((postgres.data / "postmaster.pid").read_text().split()[0])
    return cpu_seconds(postmaster, with_reaped_children=True) + sum(
        cpu_seconds(child) for child in _children(postmaster)
    )


async def one_round(
    postgres: PrivatePostgres, name: str, orders: int, batch: int, in_flight: int
) -> dict[str, Any]:
    url = f"{postgres.url}/{name}"
    await ensure_database(url)
    await upgrade(MIGRATIONS, url)
    db = Database(url)
    try:
        with recording(db.engine) as sent:
            # Warm the connection, caches and the link key on a few orders not counted.
            for envelope in delivery_stream(order_events(4), 4):
                async with db.transaction() as session:
                    await projection.record(session, envelope)
            stream = delivery_stream(order_events(orders), in_flight)
            sent.clear()
            client, server, wall = time.process_time(), cluster_cpu(postgres), time.perf_counter()
            transactions = 0
            for start in range(0, len(stream), batch):
                async with db.transaction() as session:
                    for envelope in stream[start : start + batch]:
                        await projection.record(session, envelope)
                transactions += 1
            client = time.process_time() - client
            server = cluster_cpu(postgres) - server
            wall = time.perf_counter() - wall
            sent_n = sent.count()
            return {
                "client_cpu_ms_per_order": round(client / orders * 1000, 3),
                "postgres_cpu_ms_per_order": round(server / orders * 1000, 3),
                "wall_ms_per_order": round(wall / orders * 1000, 3),
                "statements_per_order": round(sent_n / orders, 2),
                "transactions_per_order": round(transactions / orders, 2),
                "statements": {
                    k: round(v / orders, 2) for k, v in sent.tally(width=60).most_common()
                },
            }
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--batch", default="1,5", help="deliveries per transaction, each a run")
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="reporting-projection.json")
    args = parser.parse_args()
    root = private_root()
    postgres = PrivatePostgres(root, ("max_connections=50", "fsync=off"))
    results: dict[str, Any] = {}
    try:
        await asyncio.to_thread(postgres.start)
        for batch in (int(b) for b in args.batch.split(",")):
            runs = []
            for r in range(args.rounds):
                runs.append(
                    await one_round(
                        postgres, f"bench_{batch}_{r}", args.orders, batch, args.in_flight
                    )
                )
                print(
                    f"batch {batch} round {r}: "
                    + json.dumps({k: v for k, v in runs[-1].items() if k != "statements"}),
                    flush=True,
                )
            best = min(runs, key=lambda run: run["client_cpu_ms_per_order"])
            results[f"batch_{batch}"] = {
                "best_client_cpu_ms_per_order": best["client_cpu_ms_per_order"],
                "best_postgres_cpu_ms_per_order": min(
                    run["postgres_cpu_ms_per_order"] for run in runs
                ),
                "statements_per_order": best["statements_per_order"],
                "transactions_per_order": best["transactions_per_order"],
                "statements": best["statements"],
                "rounds": [{k: v for k, v in run.items() if k != "statements"} for run in runs],
            }
    finally:
        postgres.remove()
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "orders": args.orders,
        "in_flight": args.in_flight,
        "load_average": os.getloadavg()[0],
        "results": results,
    }
    write_results(args.out, result)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
