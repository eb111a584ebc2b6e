"""What the site's waiting room costs per request, with a launch-sized queue behind it.

Migrates a fresh orders database (real PostgreSQL; no broker needed), fills the journey to
its limit and puts ``--waiting`` visitors in the queue, then times each operation the
waiting room does:

- an admitted visitor's page in the journey (the place is cached in the session: no query);
- a waiting visitor's page check at the front and at the back of the queue (marks them as
  still here; their place comes from the replica's last ranking of the queue);
- an arrival (takes the lock, draws a ticket, tries to admit);
- one keeper round (times out the quiet, admits, measures the queue), which each replica
  runs every ``waiting_room_tick_seconds``.

Prints the figures and writes bench/results/waiting-room.json.

    .venv/bin/python bench/waiting_room.py                    # 25,000 waiting, 1,000 inside
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from services.orders.settings import OrdersSettings  # noqa: E402
from services.orders.store import waiting_room as queue  # noqa: E402
from services.orders.web.waiting_room import WaitingRoom  # noqa: E402
from shared.store.db import Database  # noqa: E402
from shared.store.migrations import ensure_database, upgrade  # noqa: E402
from shared.web import WebSession  # noqa: E402
from tests.support import infra  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "waiting-room.json"


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
        "n": len(ordered),
    }


async def _time(repeats: int, op: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await op()
        samples.append(time.perf_counter() - started)
    return _ms(samples)


async def run(waiting: int, limit: int, repeats: int) -> dict[str, Any]:
    name = f"care_orders_waiting_room_{infra.unique_suffix()}"
    url = f"{infra.PG}/{name}"
    await ensure_database(url)
    await upgrade(ROOT / "services" / "orders" / "store" / "migrations", url)
    settings = OrdersSettings(
        database_url=url, waiting_room_limit=limit, waiting_room_admit_per_second=0.0
    )
    room = WaitingRoom(Database(url), settings, "orders")
    try:
        async with room.db.transaction() as tx:
            await tx.execute(
                text(
                    "INSERT INTO waiting_room (state) SELECT 'waiting' FROM generate_series(1, :n)"
                ),
                {"n": limit + waiting},
            )
            await tx.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": queue.LOCK_KEY})
            await queue.admit(tx, limit, 0.0)
            await tx.execute(text("ANALYZE waiting_room"))
            first, last = (
                await tx.execute(
                    text("SELECT min(seq), max(seq) FROM waiting_room WHERE state = 'waiting'")
                )
            ).one()

        def session(seq: int, admitted: bool) -> WebSession:
            web = WebSession("x", {}, datetime.now(UTC) + timedelta(minutes=30))
            web.data["waiting_room"] = {"seq": seq, "admitted": admitted, "checked": time.time()}
            return web

        inside = session(1, admitted=True)  # checked a moment ago: cached in the session
        front, back = session(first, admitted=False), session(last, admitted=False)
        await room.tick()

        async def waiting_page(web: WebSession) -> None:
            await room.position(await room.enter(web))

        async def arrive() -> None:
            async with room.db.transaction() as tx:
                await queue.arrive(tx, limit, 0.0)

        figures = {
            "waiting": waiting,
            "in_journey": limit,
            "admitted_visitor_page": await _time(repeats * 10, lambda: room.enter(inside)),
            "waiting_page_check_front": await _time(repeats, lambda: waiting_page(front)),
            "waiting_page_check_back": await _time(repeats, lambda: waiting_page(back)),
            "arrival": await _time(repeats, arrive),
            "keeper_round": await _time(max(10, repeats // 5), room.tick),
            "load_average": os.getloadavg(),
        }
    finally:
        await room.db.dispose()
        await infra.drop_databases([name])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--waiting", type=int, default=25_000)
    parser.add_argument("--limit", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    figures = asyncio.run(run(args.waiting, args.limit, args.repeats))
    print(json.dumps(figures, indent=2))
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
