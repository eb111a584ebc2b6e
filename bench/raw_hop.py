"""The ceiling of one event hop on this machine, with no application code.

Run on a RabbitMQ node and PostgreSQL cluster of its own (the launch benchmark runs it on the
platform's), so other users of the machine's broker cannot stall it. One hop is what the
platform does for every event, stripped to the bone: a producer commits a
row in PostgreSQL and publishes a persistent message with a publisher confirm; a consumer
takes it, commits a row of its own and acks. aio-pika and asyncpg only: no FastStream, no
SQLAlchemy, no pydantic. The platform's end-to-end rate divided by this is its efficiency.

    .venv/bin/python bench/raw_hop.py --messages 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.private_infra import PrivatePostgres, PrivateRabbit, private_root  # noqa: E402

QUEUE = "raw-hop"
DATABASE = "raw_hop"


async def measure(messages: int = 5000, in_flight: int = 64) -> dict[str, Any]:
    """Hops per second on a private RabbitMQ node and PostgreSQL cluster, then removed."""
    root = private_root()
    rabbit, postgres = PrivateRabbit(root), PrivatePostgres(root)
    try:
        await asyncio.gather(asyncio.to_thread(rabbit.start), asyncio.to_thread(postgres.start))
        return await measure_on(rabbit.url, postgres.url, messages, in_flight)
    finally:
        rabbit.remove()
        postgres.remove()
        shutil.rmtree(root, ignore_errors=True)


async def measure_on(
    amqp_url: str, postgres_url: str, messages: int = 5000, in_flight: int = 64
) -> dict[str, Any]:
    """Hops per second through ``amqp_url`` and a fresh database beside the platform's.

    ``postgres_url`` is the server's address without a database (the SQLAlchemy form is
    accepted too).
    """
    server = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(f"{server}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
    await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    try:
        return await _run(amqp_url, f"{server}/{DATABASE}", messages, in_flight, in_flight)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.close()


async def _run(amqp: str, dsn: str, messages: int, in_flight: int, prefetch: int) -> dict[str, Any]:
    pool = await asyncpg.create_pool(dsn, min_size=4, max_size=8)
    await pool.execute("CREATE TABLE sent (id int PRIMARY KEY, at timestamptz DEFAULT now())")
    await pool.execute("CREATE TABLE received (id int PRIMARY KEY, at timestamptz DEFAULT now())")
    connection = await aio_pika.connect(amqp)
    publish_channel = await connection.channel(publisher_confirms=True)
    consume_channel = await connection.channel()
    await consume_channel.set_qos(prefetch_count=prefetch)
    queue = await consume_channel.declare_queue(
        QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        # Handled concurrently up to the prefetch, as the platform's consumers are.
        tasks.add(task := asyncio.create_task(handle(message)))
        task.add_done_callback(tasks.discard)

    async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        ident = int(message.body)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO received (id) VALUES ($1)", ident)
        await message.ack()
        latencies.append(time.perf_counter() - sent_at[ident])
        if len(latencies) == messages:
            done.set()

    consumer_tag = await queue.consume(on_message)
    limit = asyncio.Semaphore(in_flight)

    async def produce(ident: int) -> None:
        async with limit:
            sent_at[ident] = time.perf_counter()
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("INSERT INTO sent (id) VALUES ($1)", ident)
            await publish_channel.default_exchange.publish(
                aio_pika.Message(
                    str(ident).encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                ),
                routing_key=QUEUE,
            )

    started = time.perf_counter()
    await asyncio.gather(*(produce(i) for i in range(messages)))
    await asyncio.wait_for(done.wait(), timeout=300)
    elapsed = time.perf_counter() - started
    received = await pool.fetchval("SELECT count(*) FROM received")
    await queue.cancel(consumer_tag)
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()
    await pool.close()
    ordered = sorted(latencies)

    def ms(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000, 1)

    return {
        "messages": messages,
        "received": received,
        "in_flight": in_flight,
        "hops_per_second": round(messages / elapsed, 1),
        "hop_ms": {"p50": ms(50), "p95": ms(95), "p99": ms(99)},
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "raw-hop.json")
    args = parser.parse_args()
    figures = await measure(args.messages, args.in_flight)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
