"""What one delivery costs in the consumer path alone, with no broker and no database.

FastStream's subscriber ``consume`` (as aio-pika calls it for every delivery) runs our consumer
(span, envelope parsing, log context, the ``event handled`` line, metrics), group commit (with
the transaction and the inbox claim faked: they are measured by ``platform_hop.py`` and
``statement_cost.py``) and the acknowledgement, on a fake channel whose ``basic_ack`` does what
aiormq does per frame (marshal it, queue it, wait for the drain). Deliveries arrive ``--batch``
at a time, as a group commit gathers them. Prints this process's CPU per delivery (best of
``--rounds``) and the ack frames sent (docs/adr/0083-the-fixed-cost-of-a-delivery.md).

    .venv/bin/python bench/delivery_cost.py --deliveries 4000 --rounds 5

CPU time moves with what else runs on the machine; for a figure neighbours do not move, count
instructions under Valgrind for two lengths and take the difference per delivery:

    valgrind --tool=callgrind .venv/bin/python bench/delivery_cost.py --deliveries 400 --rounds 1
    valgrind --tool=callgrind .venv/bin/python bench/delivery_cost.py --deliveries 1400 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aio_pika import IncomingMessage  # noqa: E402
from aiormq.abc import ChannelFrame, DeliveredMessage  # noqa: E402
from faststream._internal.endpoint.subscriber.utils import MultiLock  # noqa: E402
from pamqp import commands as spec  # noqa: E402
from pamqp.header import ContentHeader  # noqa: E402
from sqlalchemy import MetaData  # noqa: E402

from bench.platform_hop import BenchHop  # noqa: E402
from shared.events import Envelope  # noqa: E402
from shared.events.envelope import wrap  # noqa: E402
from shared.logging import configure_logging  # noqa: E402
from shared.runtime import Service  # noqa: E402
from shared.settings import ServiceSettings  # noqa: E402
from shared.store import inbox  # noqa: E402

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class _Connection:
    basic_nack = True


class Channel:
    """The deliveries' channel: counts ack frames, and pays for each what aiormq does."""

    def __init__(self) -> None:
        self.connection, self.is_closed, self.number = _Connection(), False, 1
        self.frames = 0
        self.multiple = 0

    async def basic_ack(self, delivery_tag: int, multiple: bool = False, wait: bool = True) -> None:
        self.frames += 1
        self.multiple += multiple
        loop = asyncio.get_running_loop()
        drained = loop.create_future()
        ChannelFrame.marshall(
            frames=[spec.Basic.Ack(delivery_tag=delivery_tag, multiple=multiple)],
            channel_number=self.number,
            drain_future=drained,
        )
        loop.call_soon(drained.set_result, None)
        await drained

    async def basic_nack(self, delivery_tag: int, **_: Any) -> None:
        self.frames += 1


class _Session:
    def __init__(self) -> None:
        self.info: dict[str, Any] = {}


class _Database:
    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Session]:
        yield _Session()


async def _claimed(_session: Any, keys: Any) -> set[Any]:
    return set(keys)


class Bench:
    """One service with one ``handles`` consumer, its subscriber set up without a broker."""

    def __init__(self) -> None:
        settings = ServiceSettings(
            service="deliverybench",
            database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none",
            migrate_on_start=False,
            prefetch=64,
        )
        self.service = Service(settings, MetaData(), Path(tempfile.gettempdir()), emits=())
        self.handled = 0

        @self.service.handles(BenchHop)
        async def on_hop(_session: Any, _envelope: Envelope[Any]) -> None:
            self.handled += 1

        self.service.consumers.group._db = _Database()  # type: ignore[assignment]
        inbox.claim_many = _claimed  # type: ignore[assignment]
        broker = self.service.broker
        broker.config.logger._setup(broker.config.context)
        self.subscriber: Any = next(iter(broker.subscribers))
        self.subscriber.lock = MultiLock()
        self.subscriber._build_fastdepends_model()
        self.subscriber.running = True
        self.channel = Channel()
        self.tag = 0

    def deliveries(self, count: int) -> list[DeliveredMessage]:
        """``count`` deliveries as aiormq hands them over: body, properties, next tags."""
        out = []
        for _ in range(count):
            self.tag += 1
            envelope = wrap(BenchHop(n=self.tag), str(uuid.uuid4()))
            body = envelope.model_dump_json().encode()
            properties = spec.Basic.Properties(
                content_type="application/json",
                delivery_mode=2,
                headers={"event-type": BenchHop.TYPE, "traceparent": PARENT},
                message_id=str(envelope.event_id),
                correlation_id=envelope.correlation_id,
                message_type=BenchHop.TYPE,
                app_id="care-bench",
            )
            deliver = spec.Basic.Deliver(
                consumer_tag="bench",
                delivery_tag=self.tag,
                redelivered=False,
                exchange="care.events",
                routing_key=BenchHop.ROUTING_KEY,
            )
            header = ContentHeader(0, len(body), properties)
            out.append(DeliveredMessage(deliver, header, body, self.channel))  # type: ignore[arg-type]
        return out

    async def round(self, count: int, batch: int) -> float:
        """CPU µs per delivery for ``count`` deliveries arriving ``batch`` at a time."""
        loop = asyncio.get_running_loop()
        cpu = 0.0
        for _ in range(0, count, batch):
            delivered = self.deliveries(batch)
            started = time.process_time()
            tasks = [
                loop.create_task(self.subscriber.consume(IncomingMessage(d, no_ack=False)))
                for d in delivered
            ]
            await asyncio.gather(*tasks)
            cpu += time.process_time() - started
        return cpu / count * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    configure_logging("deliverybench", "INFO")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w"))  # noqa: ASYNC230 - once, for the run
    bench = Bench()
    keep = Envelope[BenchHop]  # as a publisher's schema holds it in platform_hop.py
    await bench.round(500, args.batch)  # warm
    rounds = [round(await bench.round(args.deliveries, args.batch), 1) for _ in range(args.rounds)]
    await bench.service.consumers.close()
    print(
        json.dumps(
            {
                "cpu_us_per_delivery": rounds,
                "best": min(rounds),
                "handled": bench.handled,
                "deliveries": bench.tag,
                "ack_frames": bench.channel.frames,
                "multiple_acks": bench.channel.multiple,
                "envelope": keep.__name__,
            }
        )
    )


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
