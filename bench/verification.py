"""How many orders per second verification's automatic checks decide, on real RabbitMQ and
PostgreSQL, and how fast the pure rules are without any I/O.

Starts R verification instances in this process (competing consumers on the same queues, one
outbox relay each) on a fresh vhost and database; publishes every account's authorised
locations first, then the orders as a busy orders relay would (persistent, confirmed); and
times verification until every order is verified or referred. The mix: mostly CQC orders of
distinct providers (verified), some with more badges than their beds suggest, some a
provider's second account, and non-CQC orders (referred). Prints the figures and writes them
to bench/results/verification.json.

    .venv/bin/python bench/verification.py                   # 5,000 orders, 1 instance
    .venv/bin/python bench/verification.py --orders 2000 --replicas 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from services.verification.app import create_app  # noqa: E402
from services.verification.domain.checks import (  # noqa: E402
    History,
    LineFacts,
    LocationFacts,
    OrderFacts,
    Policy,
    evaluate,
)
from services.verification.settings import VerificationSettings  # noqa: E402
from shared.events import AccountKind, EventPayload, LocationsAuthorised  # noqa: E402
from shared.runtime import Service  # noqa: E402
from tests.support import infra  # noqa: E402
from tests.support.dispatch import publish_many  # noqa: E402
from tests.support.events import order_placed  # noqa: E402
from tests.support.keys import keypair  # noqa: E402
from tests.support.verification import cqc_order, location  # noqa: E402


def workload(orders: int) -> tuple[list[EventPayload], list[EventPayload]]:
    """The authorisations to publish first, then the orders, in the mix the docstring gives."""
    authorisations: list[EventPayload] = []
    placed: list[EventPayload] = []
    for i in range(orders):
        kind = i % 10
        if kind == 9:
            placed.append(order_placed(quantity=30, kind=AccountKind.NON_CQC))
            continue
        provider = f"1-PB{i // 2 if kind == 8 else i}"  # every 9th shares a provider
        site = location(provider=provider, beds=20, postcode=f"LS{1 + i % 28} {i % 9}AA")
        account = uuid.uuid4()
        authorisations.append(LocationsAuthorised(account_id=account, locations=[site]))
        placed.append(cqc_order(account, (site, 70 if kind == 7 else 25)))
    return authorisations, placed


async def count(service: Service, sql: str) -> int:
    async with service.db.transaction() as session:
        return int(await session.scalar(text(sql)) or 0)


async def wait_for(
    service: Service, sql: str, target: int, limit: float, feeding: asyncio.Task[Any] | None = None
) -> float:
    started = time.perf_counter()
    while (done := await count(service, sql)) < target:
        if feeding is not None and feeding.done() and feeding.exception():
            raise SystemExit(f"publishing failed: {feeding.exception()!r}")
        if time.perf_counter() - started > limit:
            raise SystemExit(f"only {done} of {target} after {limit:.0f}s")
        await asyncio.sleep(0.2)
    return time.perf_counter() - started


def pure_rules_per_second(seconds: float = 2.0) -> float:
    """The rules alone: one CQC order with two locations against a history of ten others."""
    policy = Policy(2.5, 25)
    sites = {
        "L1": LocationFacts("L1", "P1", True, 40, "Oak House", "Oak Care"),
        "L2": LocationFacts("L2", "P1", False, None, "Oak Domiciliary", "Oak Care"),
    }
    order = OrderFacts("cqc", 90, [LineFacts("L1", 60), LineFacts("L2", 30)], "LS1 4AP", "Oak")
    history = History(set(), [])
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(1000):
            evaluate(order, sites, history, policy)
        done += 1000
    return done / (time.perf_counter() - started)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    suffix = infra.unique_suffix()
    vhost, database = f"care-bench-{suffix}", f"care_verification_bench_{suffix}"
    amqp_url = await infra.create_vhost(vhost)
    # Platform-wide settings are read from the environment only (no prefix, no field name).
    os.environ["CARE_AMQP_URL"] = amqp_url
    os.environ["CARE_TOKEN_PUBLIC_KEY"] = keypair().public_pem
    services: list[Service] = []
    try:
        for _ in range(args.replicas):
            settings = VerificationSettings(
                database_url=f"{infra.PG}/{database}",
                prefetch=args.prefetch,
                log_level="WARNING",
            )
            service: Service = create_app(settings).state.service
            await service.start()
            services.append(service)
        first = services[0]
        authorisations, placed = workload(args.orders)
        await publish_many(amqp_url, authorisations)
        await wait_for(
            first, "SELECT count(*) FROM authorisations", len(authorisations), args.timeout
        )
        load = os.getloadavg()[0]
        started = time.perf_counter()
        publishing = asyncio.create_task(publish_many(amqp_url, placed))
        elapsed = await wait_for(
            first,
            "SELECT count(*) FROM orders WHERE state IN ('verified', 'referred')",
            args.orders,
            args.timeout,
            publishing,
        )
        await publishing
        published = time.perf_counter() - started
        verified = await count(first, "SELECT count(*) FROM orders WHERE state = 'verified'")
        return {
            "orders": args.orders,
            "replicas_in_one_process": args.replicas,
            "prefetch_per_replica": args.prefetch,
            "seconds_to_decide_all": round(elapsed, 1),
            "orders_checked_per_second": round(args.orders / elapsed, 1),
            "verified": verified,
            "referred": args.orders - verified,
            "publishing_finished_within_seconds": round(min(published, elapsed), 1),
            "pure_rules_evaluations_per_second": round(pure_rules_per_second()),
            "machine": {"cores": os.cpu_count(), "load_average_at_start": round(load, 2)},
        }
    finally:
        for service in services:
            await service.stop()
        await infra.delete_vhost(vhost)
        await infra.drop_databases([database])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5_000)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--prefetch", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "verification.json"
    )
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
