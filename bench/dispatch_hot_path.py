"""Statements and client CPU per order on dispatch's hot path, in one process on a private
PostgreSQL: the placement recorded (OrderPlaced's handler), decided by the allocator (its
batches, each order's share), and the verified order allocated and handed to the courier
(OrderVerified's handler: the badges moved from reserved to allocated, the shipment and its
parcels, the leaflets packed, the ledger, the order's state and the two events). Each
placement and each verification runs in its own transaction as a consumer runs it alone; the
allocator decides the recorded placements in batches of ``--batch``.

Statements are counted as the session runs them (SQLAlchemy's and the prepared ones
(``shared/store/prepared.py``), the outbox insert at commit included), BEGIN and COMMIT
aside; a consumer adds its inbox claim to each delivery's transaction. CPU is this process's
for each path, best of ``--rounds``, so the figure holds on a busy machine far better than a
rate. Run it on two checkouts to compare (docs/adr/0054-cost-per-order-levers.md):

    .venv/bin/python bench/dispatch_hot_path.py --orders 300 --rounds 3
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.in_process import OutboxService, private_database, report  # noqa: E402
from services.dispatch.settings import DispatchSettings  # noqa: E402
from services.dispatch.store import ledger  # noqa: E402
from services.dispatch.store.tables import metadata  # noqa: E402
from services.dispatch.usecases import EMITS  # noqa: E402
from services.dispatch.usecases.orders import Orders  # noqa: E402
from services.dispatch.usecases.placements import Placements  # noqa: E402
from shared.logging import configure_logging  # noqa: E402
from shared.store.db import Database  # noqa: E402
from tests.support.dispatch import placed  # noqa: E402
from tests.support.round_trips import RoundTrips, recording  # noqa: E402

PATHS = ("placed", "decided", "verified")
#: Badges per order: the platform's typical CQC order, one parcel (parcel size 200).
QUANTITY = 5


class BenchService(OutboxService):
    """What dispatch's use cases need of :class:`shared.runtime.Service`: its settings too."""

    name = "dispatch"

    def __init__(self, db: Database, table: Any, settings: DispatchSettings) -> None:
        super().__init__(db, table)
        self.settings = settings

    def emitted_routing_keys(self) -> list[str]:
        return [payload.ROUTING_KEY for payload in EMITS]


class Bench:
    def __init__(self, service: BenchService, sent: RoundTrips, batch: int) -> None:
        self.service = service
        self.sent = sent
        self.batch = batch
        self.placements = Placements(service)  # type: ignore[arg-type]
        self.orders = Orders(service)  # type: ignore[arg-type]
        self.seq = 0

    async def round(self, n: int) -> dict[str, float]:
        """Record, decide and verify ``n`` orders; client CPU ms per order for each path."""
        db, sent = self.service.db, self.sent
        events = [placed(QUANTITY, seq=self.seq + i) for i in range(1, n + 1)]
        self.seq += n
        cpu: dict[str, float] = {}

        sent.label_from_now("placed")
        started = time.process_time()
        for placement in events:
            async with db.transaction() as session:
                await self.placements.order_placed(session, placement, "bench")
        cpu["placed"] = time.process_time() - started

        sent.label_from_now("decided")
        started = time.process_time()
        decided = 0
        while decided < n:
            async with db.transaction() as session:
                done = await self.placements.decide_placements(session, self.batch)
            if done.decided == 0:
                raise RuntimeError("the allocator decided nothing")
            decided += done.decided
        cpu["decided"] = time.process_time() - started

        sent.label_from_now("verified")
        started = time.process_time()
        for placement in events:
            async with db.transaction() as session:
                await self.orders.order_verified(session, placement.order_id, "bench")
        cpu["verified"] = time.process_time() - started
        sent.label_from_now("")
        await self.check([e.order_id for e in events])
        return {path: seconds / n * 1e3 for path, seconds in cpu.items()}

    async def check(self, order_ids: list[uuid.UUID]) -> None:
        """Every order allocated, with its one shipment, and the ledger adds up."""
        async with self.service.db.transaction() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE o.state = 'allocated') AS allocated,"
                        " count(s.reference) AS shipped"
                        " FROM dispatch_orders AS o"
                        " LEFT JOIN shipments AS s ON s.order_id = o.order_id"
                        " WHERE o.order_id = ANY(:ids)"
                    ),
                    {"ids": order_ids},
                )
            ).one()
            consistent = (await ledger.check_ledger(session)).consistent
        if (row.allocated, row.shipped) != (len(order_ids), len(order_ids)) or not consistent:
            raise RuntimeError(f"not every order shipped once: {row}, ledger {consistent}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=200, help="the allocator's batch")
    parser.add_argument("--sql", action="store_true", help="list each statement's count")
    parser.add_argument("--out", default="")
    parser.add_argument("--log-level", default="WARNING", help="the service logs at INFO")
    args = parser.parse_args()
    configure_logging("dispatch", args.log_level)
    result: dict[str, Any] = {
        "orders_per_round": args.orders,
        "rounds": args.rounds,
        "allocator_batch": args.batch,
    }
    async with private_database(metadata) as (db, table):
        settings = DispatchSettings(courier_hmac_secret="bench-only", allocator_hole_wait_seconds=0)
        service = BenchService(db, table, settings)
        async with db.transaction() as session:
            await ledger.receive(session, QUANTITY * args.orders * (args.rounds + 2))
        with recording(db.engine) as sent:
            bench = Bench(service, sent, args.batch)
            await bench.round(min(args.orders, 50))  # warm every cache
            sent.clear()
            best: dict[str, float] = {}
            for _ in range(args.rounds):
                for path, ms in (await bench.round(args.orders)).items():
                    best[path] = min(best.get(path, ms), ms)
            per = args.orders * args.rounds
            statements = sent.per(PATHS, per)
            result["client_cpu_ms_per_order_best"] = {p: round(best[p], 3) for p in PATHS}
            result["client_cpu_ms_per_order_total"] = round(sum(best.values()), 3)
            result["statements_per_order"] = statements
            result["statements_total"] = round(sum(statements.values()), 2)
            if args.sql:
                result["sql"] = sent.listing(PATHS, per)
    report(result, args.out)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
