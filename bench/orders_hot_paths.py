"""Statements and client CPU per provider on orders' hot paths, in one process on a private
PostgreSQL: identity's first-sign-in event (AccountRegistered, carrying the locations since
ADR 0082), the order, and two status steps (verified; dispatched, with its email), each in
its own transaction as the consumers and the API run them. Two journeys: the registration
arrives before the order, or the order is taken first and waits for it (ADR 0061).

Statements are counted as the session runs them (SQLAlchemy's, SAVEPOINTs included, and the
prepared ones), BEGIN and COMMIT aside; CPU is this process's, best of ``--rounds``, so the
figure holds on a busy machine far better than a rate. Run it on two checkouts to compare
(docs/adr/0054-cost-per-order-levers.md):

    .venv/bin/python bench/orders_hot_paths.py --providers 300 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import write_results  # noqa: E402
from bench.in_process import OutboxService, private_database  # noqa: E402
from services.orders.domain.order import Status  # noqa: E402
from services.orders.store.tables import metadata  # noqa: E402
from services.orders.usecases import accounts, placing, progress  # noqa: E402
from shared.events import (  # noqa: E402
    AccountKind,
    AccountRegistered,
    Location,
)
from shared.http.auth import Principal  # noqa: E402
from tests.support.round_trips import RoundTrips, recording  # noqa: E402

PATHS = ("registered", "place", "verified", "dispatched")


class BenchService(OutboxService):
    name = "orders"


def location(location_id: str) -> Location:
    return Location(
        location_id=location_id,
        ods_code="VNX09",
        name="Alder House",
        address_line_1="9 Station Road",
        city="York",
        postcode="YO1 6AA",
        provider_id="1-909",
        provider_name="Alder Care Ltd",
        region="Yorkshire and The Humber",
        local_authority="York",
    )


async def provider(service: BenchService, sent: RoundTrips, events_first: bool) -> None:
    account_id = uuid.uuid4()
    site = f"1-{uuid.uuid4().hex[:9].upper()}"
    db = service.db

    async def registered() -> None:
        # A first sign-in's registration carries its locations (ADR 0082).
        sent.label_from_now("registered")
        async with db.transaction() as session:
            await accounts.account_registered(
                service,  # type: ignore[arg-type]
                session,
                AccountRegistered(
                    account_id=account_id,
                    kind=AccountKind.CQC,
                    email=f"{site}@example.org",
                    locations=[location(site)],
                ),
            )

    if events_first:
        await registered()
    sent.label_from_now("place")
    placed = await placing.place_order(
        service,  # type: ignore[arg-type]
        Principal(account_id, "provider", "cqc", frozenset({site})),
        "Jo Manager",
        "bench",
        lines=[(site, 5)],
        deliver_to=site,
    )
    if not events_first:
        await registered()
    sent.label_from_now("verified")
    async with db.transaction() as session:
        await progress.record_step(session, placed.order_id, Status.VERIFIED, datetime.now(UTC), "")
    sent.label_from_now("dispatched")
    async with db.transaction() as session:
        await progress.dispatched(session, placed.order_id, "SHIP-1", datetime.now(UTC))


async def journey(service: BenchService, sent: RoundTrips, n: int, events_first: bool) -> float:
    """Client CPU ms per provider."""
    started = time.process_time()
    for _ in range(n):
        await provider(service, sent, events_first)
    return (time.process_time() - started) / n * 1e3


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--providers", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    result: dict[str, Any] = {"providers_per_round": args.providers, "rounds": args.rounds}
    async with private_database(metadata) as (db, table):
        service = BenchService(db, table)
        with recording(db.engine) as sent:
            for name, events_first in (("events_first", True), ("order_first", False)):
                await journey(service, sent, 30, events_first)  # warm every cache
                sent.clear()
                cpu = [
                    await journey(service, sent, args.providers, events_first)
                    for _ in range(args.rounds)
                ]
                statements = sent.per(PATHS, args.providers * args.rounds)
                result[name] = {
                    "client_cpu_ms_per_provider_best": round(min(cpu), 3),
                    "statements_per_provider": statements,
                    "statements_total": round(sum(statements.values()), 2),
                }
                print(name, json.dumps(result[name]), flush=True)
    write_results(args.out, result)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
