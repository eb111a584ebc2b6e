"""Orders per second end to end, placed -> handed to the courier, on this machine.

Starts the platform as five processes (the run command's launcher) on a fresh vhost and fresh
databases, signs in N distinct providers, places one order each with bounded concurrency, and
times each order from its POST to its OrderDispatched (committed in the same transaction as
the courier handoff). Prints the figures and writes them to bench/results/.

    .venv/bin/python bench/saga_throughput.py --orders 1000 --concurrency 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aio_pika
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.register import write_register  # noqa: E402
from tests.support import infra  # noqa: E402
from tests.support.launcher import Launched, launch  # noqa: E402

OFFSET = 400


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "saga-throughput.json"
    )
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="care-bench-"))
    rows = write_register(state / "register.csv", args.orders)
    platform = await launch(
        state,
        OFFSET,
        "--register",
        str(state / "register.csv"),
        "--initial-stock",
        str(args.orders * 20),
        command=(sys.executable, "scripts/run_platform.py"),
    )
    try:
        figures = await drive(platform, rows, args.concurrency)
    finally:
        await platform.stop()

    figures["machine"] = {"cores": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


async def drive(
    platform: Launched, rows: list[dict[str, str]], concurrency: int
) -> dict[str, object]:
    connection = await aio_pika.connect_robust(f"{infra.AMQP}/{platform.vhost}")
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind("care.events", routing_key="order.dispatched")
    dispatched_at: dict[str, float] = {}

    async def on_dispatched(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        dispatched_at[json.loads(message.body)["payload"]["order_id"]] = time.perf_counter()
        await message.ack()

    await queue.consume(on_dispatched)
    limit = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        sign_in_latency: list[float] = []

        async def sign_in(row: dict[str, str]) -> str:
            async with limit:
                t = time.perf_counter()
                r = await http.post(
                    platform.url("identity", "/api/sign-in"),
                    json={"email": row["email"], "password": row["ods"]},
                )
                sign_in_latency.append(time.perf_counter() - t)
                r.raise_for_status()
                return str(r.json()["access_token"])

        t0 = time.perf_counter()
        tokens = await asyncio.gather(*(sign_in(r) for r in rows))
        sign_in_seconds = time.perf_counter() - t0

        placed_at: dict[str, float] = {}
        order_latency: list[float] = []

        async def order(row: dict[str, str], token: str) -> None:
            body = {
                "lines": [{"location_id": row["location_id"], "staff_count": 10}],
                "deliver_to_location_id": row["location_id"],
                "contact_name": "Bench",
            }
            async with limit:
                for _ in range(50):
                    t = time.perf_counter()
                    r = await http.post(
                        platform.url("orders", "/api/orders"),
                        json=body,
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    if r.status_code == 201:
                        order_latency.append(time.perf_counter() - t)
                        placed_at[r.json()["order_id"]] = t
                        return
                    await asyncio.sleep(0.2)
                raise RuntimeError(f"order refused: {r.status_code} {r.text}")

        t1 = time.perf_counter()
        await asyncio.gather(*(order(r, tok) for r, tok in zip(rows, tokens, strict=True)))
        placing_seconds = time.perf_counter() - t1
        deadline = time.perf_counter() + 300
        while len(set(placed_at) & set(dispatched_at)) < len(placed_at):
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.1)
    await connection.close()

    done = [o for o in placed_at if o in dispatched_at]
    end_to_end = [dispatched_at[o] - placed_at[o] for o in done]
    span = max(dispatched_at[o] for o in done) - t1
    ms = lambda v: round(v * 1000, 1)  # noqa: E731
    return {
        "orders": len(placed_at),
        "dispatched": len(done),
        "concurrency": concurrency,
        "sign_ins_per_second": round(len(rows) / sign_in_seconds, 1),
        "sign_in_ms": {
            "p50": ms(percentile(sign_in_latency, 50)),
            "p99": ms(percentile(sign_in_latency, 99)),
        },
        "orders_accepted_per_second": round(len(placed_at) / placing_seconds, 1),
        "orders_per_second_end_to_end": round(len(done) / span, 1),
        "order_request_ms": {
            p: ms(percentile(order_latency, int(p[1:]))) for p in ("p50", "p95", "p99")
        },
        "placed_to_handoff_ms": {
            p: ms(percentile(end_to_end, int(p[1:]))) for p in ("p50", "p95", "p99")
        },
        "placed_to_handoff_mean_ms": ms(statistics.fmean(end_to_end)),
    }


if __name__ == "__main__":
    asyncio.run(main())
