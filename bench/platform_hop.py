"""What one event hop costs through the platform's own stack, beside the raw hop.

The raw hop (bench/raw_hop.py) is aio-pika and asyncpg with no application code. This runs
the same hop through what every service uses: ``Service.emit`` into the outbox in a
transaction, the outbox relay publishing with confirms, and a ``Service.handles`` consumer
(inbox claim, group commit, the handler's insert, ack after commit). Both run in this one
process on a private RabbitMQ node and PostgreSQL cluster, and the figure that matters is
this process's CPU per hop (``time.process_time``): the broker's and the database's CPU are
about the same for both, so the difference is the cost of our framework per message, the
part of an order's cost that every event pays (docs/adr/0053-cost-per-order.md).

    .venv/bin/python bench/platform_hop.py --messages 3000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Column, Integer, MetaData, Table  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

from bench import raw_hop  # noqa: E402
from shared import tracing  # noqa: E402
from shared.events import Envelope, EventPayload  # noqa: E402
from shared.events.envelope import register  # noqa: E402
from shared.logging import configure_logging  # noqa: E402
from shared.runtime import Service  # noqa: E402
from shared.settings import ServiceSettings  # noqa: E402
from tests.support.private_infra import PrivatePostgres, PrivateRabbit, private_root  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DATABASE = "platform_hop"


@register
class BenchHop(EventPayload):
    """A hop of the benchmark: carries a number, like the raw hop's body."""

    TYPE: ClassVar[str] = "BenchHop"
    ROUTING_KEY: ClassVar[str] = "bench.hop"

    n: int


async def platform_hop(amqp_url: str, server: str, messages: int, in_flight: int) -> dict[str, Any]:
    """Hops per second and client CPU per hop through Service.emit -> relay -> handles."""
    import asyncpg

    admin = await asyncpg.connect(f"{server}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
    await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    metadata = MetaData()
    received = Table("received", metadata, Column("id", Integer, primary_key=True))
    os.environ["CARE_AMQP_URL"] = amqp_url  # platform-wide, read only from the environment
    settings = ServiceSettings(
        service="hopbench",
        database_url=f"{server.replace('postgresql://', 'postgresql+asyncpg://')}/{DATABASE}",
        migrate_on_start=False,
        prefetch=in_flight,
    )
    service = Service(settings, metadata, Path(tempfile.gettempdir()), emits=(BenchHop,))
    done = asyncio.Event()
    count = 0

    @service.handles(BenchHop)
    async def on_hop(session: AsyncSession, envelope: Envelope[Any]) -> None:
        nonlocal count
        await session.execute(received.insert().values(id=envelope.payload.n))
        count += 1
        if count == messages:
            done.set()

    async with service.db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await service.start()
    limit = asyncio.Semaphore(in_flight)

    async def produce(n: int) -> None:
        async with limit, service.db.transaction() as session:
            await service.emit(session, BenchHop(n=n), str(uuid.uuid4()))

    try:
        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(produce(i) for i in range(messages)))
        await asyncio.wait_for(done.wait(), timeout=600)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await service.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.close()
    return {
        "messages": messages,
        "hops_per_second": round(messages / elapsed, 1),
        "client_cpu_us_per_hop": round(cpu / messages * 1e6),
    }


async def raw(amqp_url: str, server: str, messages: int, in_flight: int) -> dict[str, Any]:
    cpu = time.process_time()
    figures = await raw_hop.measure_on(amqp_url, server, messages, in_flight)
    figures["client_cpu_us_per_hop"] = round((time.process_time() - cpu) / messages * 1e6)
    return figures


@contextlib.contextmanager
def untraced() -> Iterator[None]:
    """The hop as it was before tracing (ADR 0072): no spans, no trace ids in headers or
    logs, no per-event log line. Patched in this process only, for the comparison."""
    from opentelemetry import trace

    from shared.messaging import consumer

    @contextlib.contextmanager
    def no_span(*_args: Any, **_kwargs: Any) -> Iterator[Any]:
        yield trace.INVALID_SPAN

    saved = (tracing.span, tracing.child_span, tracing.current_traceparent)
    line = getattr(consumer, "info_line")  # noqa: B009 - patched by name below
    tracing.span, tracing.child_span = no_span, no_span
    tracing.current_traceparent = lambda: None
    setattr(consumer, "info_line", lambda *_a, **_k: None)  # noqa: B010
    try:
        yield
    finally:
        tracing.span, tracing.child_span, tracing.current_traceparent = saved
        setattr(consumer, "info_line", line)  # noqa: B010


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each")
    parser.add_argument("--out", default="platform-hop.json")
    parser.add_argument(
        "--trace-export",
        action="store_true",
        help="record every span into an in-process exporter (the cost when tracing exports)",
    )
    parser.add_argument(
        "--compare-untraced",
        action="store_true",
        help="also run the platform hop with tracing and the per-event line patched out, "
        "alternating in the same process: the added cost under the same load",
    )
    args = parser.parse_args()
    # The services' logging, written to /dev/null: each handled event's log line is part of
    # the cost per hop (docs/adr/0072-tracing.md).
    configure_logging("hopbench", "INFO")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w"))  # noqa: ASYNC230 - once, for the run
    if args.trace_export:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        tracing.use_processor(BatchSpanProcessor(InMemorySpanExporter()), "hopbench")
    root = private_root()
    rabbit, postgres = PrivateRabbit(root), PrivatePostgres(root)
    try:
        await asyncio.gather(asyncio.to_thread(rabbit.start), asyncio.to_thread(postgres.start))
        server = postgres.url.replace("postgresql+asyncpg://", "postgresql://")
        runs: dict[str, list[dict[str, Any]]] = {"raw": [], "platform": []}
        if args.compare_untraced:
            runs["platform_untraced"] = []
        for _ in range(args.rounds):
            runs["raw"].append(await raw(rabbit.url, server, args.messages, args.in_flight))
            runs["platform"].append(
                await platform_hop(rabbit.url, server, args.messages, args.in_flight)
            )
            if args.compare_untraced:
                with untraced():
                    runs["platform_untraced"].append(
                        await platform_hop(rabbit.url, server, args.messages, args.in_flight)
                    )
    finally:
        rabbit.remove()
        postgres.remove()
        shutil.rmtree(root, ignore_errors=True)
    best = {k: min(r["client_cpu_us_per_hop"] for r in v) for k, v in runs.items()}
    result: dict[str, Any] = {
        "runs": runs,
        "client_cpu_us_per_hop_best": best,
        "framework_overhead_us_per_hop": best["platform"] - best["raw"],
    }
    if args.compare_untraced:
        result["tracing_added_us_per_hop"] = best["platform"] - best["platform_untraced"]
        result["tracing_added_share"] = round(
            (best["platform"] - best["platform_untraced"]) / best["platform_untraced"], 3
        )
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    import uvloop  # the services' loop under uvicorn, so the hop is measured on the same

    uvloop.run(main())
