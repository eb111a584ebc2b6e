"""Reservations per second with several dispatch replicas, on real RabbitMQ and PostgreSQL.

Starts N dispatch processes (uvicorn, as in production: competing consumers on the same
queues, one outbox relay each) on a fresh vhost and database, receives the stock, publishes
the placements as a busy orders relay would (persistent, confirmed, slightly interleaved),
and times dispatch deciding each one: reserve in placement order or waitlist. Then checks
the outcome (never oversold, the first placed hold the stock, the ledger balances), prints
the figures and writes them to bench/results/reservations.json.

    .venv/bin/python bench/reservations.py                     # 10,000 orders, 5,000 badges
    .venv/bin/python bench/reservations.py --orders 2000 --replicas 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from scripts.run_platform import wait_ready  # noqa: E402
from shared.store.migrations import ensure_database  # noqa: E402
from tests.support import infra  # noqa: E402
from tests.support.dispatch import (  # noqa: E402
    interleaved,
    placements,
    publish_many,
    stock_picture,
)
from tests.support.keys import keypair  # noqa: E402

BASE_PORT = 8640


def environment(amqp_url: str, database_url: str, prefetch: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARE_")}
    env.update(
        {
            "CARE_AMQP_URL": amqp_url,
            "CARE_DISPATCH_DATABASE_URL": database_url,
            "CARE_DISPATCH_COURIER_HMAC_SECRET": "bench-only-secret",
            "CARE_TOKEN_PUBLIC_KEY": keypair().public_pem,
            "CARE_DISPATCH_PREFETCH": str(prefetch),
            "CARE_DISPATCH_DB_POOL_SIZE": "4",
            "CARE_LOG_LEVEL": "WARNING",
        }
    )
    return env


def start_replicas(count: int, env: dict[str, str], logs: Path) -> list[subprocess.Popen[bytes]]:
    processes = []
    for i in range(count):
        log = (logs / f"dispatch-{i}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "services.dispatch.app:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(BASE_PORT + i),
                    "--no-access-log",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return processes


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        if proc.poll() is None:
            proc.terminate()
    for proc in processes:
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    suffix = infra.unique_suffix()
    vhost = f"care-bench-{suffix}"
    database = f"care_dispatch_bench_{suffix}"
    database_url = f"{infra.PG}/{database}"
    amqp_url = await infra.create_vhost(vhost)
    env = environment(amqp_url, database_url, args.prefetch)
    # Replicas starting at once would race to create the database (as a deployment's would,
    # which is why the database exists before the pods start).
    await ensure_database(database_url)
    logs = ROOT / ".run" / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes = start_replicas(args.replicas, env, logs)
    engine = create_async_engine(database_url, pool_size=1)
    try:
        replicas = {f"replica {i}": proc for i, proc in enumerate(processes)}
        urls = {
            f"replica {i}": f"http://127.0.0.1:{BASE_PORT + i}/readyz"
            for i in range(len(processes))
        }
        await asyncio.to_thread(wait_ready, replicas, urls, 120)
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "services.dispatch.cli", "stock", "receive", str(args.stock)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        orders = placements([1] * args.orders, first_seq=1)
        load = os.getloadavg()[0]

        async def progress() -> tuple[int, int]:
            async with engine.connect() as conn:
                handled = await conn.scalar(
                    text("SELECT count(*) FROM inbox WHERE consumer = 'dispatch.order.placed'")
                )
                reserved = await conn.scalar(
                    text("SELECT reserved FROM stock WHERE item = 'badge'")
                )
            return int(handled or 0), int(reserved or 0)

        started = time.perf_counter()
        publishing = asyncio.create_task(
            publish_many(amqp_url, interleaved(orders, window=args.window, seed=6))
        )
        published: list[float] = []
        publishing.add_done_callback(lambda _: published.append(time.perf_counter() - started))
        stock_taken_at: float | None = None
        while True:
            handled, reserved = await progress()
            now = time.perf_counter() - started
            if stock_taken_at is None and reserved >= min(args.stock, args.orders):
                stock_taken_at = now
            if handled >= args.orders:
                break
            if now > args.timeout:
                raise SystemExit(f"only {handled} of {args.orders} handled in {now:.0f}s")
            await asyncio.sleep(0.25)
        elapsed = time.perf_counter() - started
        await publishing

        async with engine.connect() as conn:
            picture = await stock_picture(conn)
            requeued = await conn.scalar(
                text("SELECT count(*) FROM stock_ledger WHERE kind = 'release'")
            )
        first = min(args.stock, args.orders)
        correct = {
            "never_oversold": picture.reserved + picture.allocated <= picture.received,
            "first_placed_hold_the_stock": picture.reserved_seqs == list(range(1, first + 1)),
            "rest_wait_in_placement_order": picture.waitlist_in_service_order
            == list(range(first + 1, args.orders + 1)),
            "ledger_balanced": picture.ledger_consistent,
        }
        return {
            "orders": args.orders,
            "stock": args.stock,
            "replicas": args.replicas,
            "prefetch_per_replica": args.prefetch,
            "arrival_interleaved_within": args.window,
            "seconds_to_decide_all": round(elapsed, 1),
            "placements_decided_per_second": round(args.orders / elapsed, 1),
            "seconds_until_stock_fully_reserved": round(stock_taken_at or elapsed, 1),
            "reservations_per_second": round(first / (stock_taken_at or elapsed), 1),
            "reservations_taken_back_for_late_arrivals": int(requeued or 0),
            "checks": correct,
            "all_published_after_seconds": round(published[0], 1),
            "machine": {"cores": os.cpu_count(), "load_average_at_start": round(load, 2)},
        }
    finally:
        await engine.dispose()
        stop(processes)
        await infra.delete_vhost(vhost)
        await infra.drop_databases([database])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--stock", type=int, default=5_000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--prefetch", type=int, default=32)
    parser.add_argument("--window", type=int, default=40, help="arrival shuffled within this")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "reservations.json"
    )
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    if not all(figures["checks"].values()):
        raise SystemExit("the outcome is wrong: see checks")


if __name__ == "__main__":
    main()
