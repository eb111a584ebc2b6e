"""See what the dead-letter queues hold, and send it back to its consumer once fixed.

A consumer parks a message it cannot handle in ``<queue>.dlq`` with the reason in its
``x-care-reason`` / ``x-care-detail`` headers. Once the cause is fixed (a deploy, a missing
row restored), ``replay`` moves the messages back to the queue they came from, one at a time:
each is republished persistent with a publisher confirm before it is acked off the
dead-letter queue, so a crash mid-way duplicates at most one message (the consumer's inbox
absorbs it) and loses none. A message that fails again is parked again, with the new reason.

    python -m shared.messaging.dead_letters list
    python -m shared.messaging.dead_letters show dispatch.order.placed --limit 5
    python -m shared.messaging.dead_letters replay dispatch.order.placed [--limit N]

When the portal closes and its data is destroyed, nobody will replay what is parked, and a
parked message may carry personal data (an OrderPlaced holds a delivery address), so
``purge_dead_letters`` empties every dead-letter queue of the topology.

The broker address comes from CARE_AMQP_URL, as the services read it. It ships in the
service image, so on Kubernetes it runs in any service's pod (docs/operations.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractConnection

from shared.messaging.topology import subscriptions

#: Headers that describe a past failure; a replayed message starts with a clean slate.
_FAILURE_HEADERS = (
    "x-death",
    "x-delivery-count",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
)


def consumer_queues() -> list[str]:
    return [s.queue_name for s in subscriptions() if s.consumer != "courier"]


async def counts(amqp_url: str) -> dict[str, int]:
    """Messages waiting in each dead-letter queue."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        held: dict[str, int] = {}
        for queue in consumer_queues():
            declared = await channel.declare_queue(f"{queue}.dlq", passive=True)
            held[queue] = declared.declaration_result.message_count or 0
        return held
    finally:
        await connection.close()


async def show(amqp_url: str, queue: str, limit: int) -> list[dict[str, object]]:
    """The first ``limit`` parked messages' ids and reasons; they stay where they are."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        dlq = await channel.declare_queue(f"{_known(queue)}.dlq", passive=True)
        seen: list[aio_pika.abc.AbstractIncomingMessage] = []
        while len(seen) < limit and (message := await dlq.get(fail=False)) is not None:
            seen.append(message)
        found: list[dict[str, object]] = [
            {
                "message_id": m.message_id,
                "type": m.type,
                "reason": (m.headers or {}).get("x-care-reason"),
                "detail": (m.headers or {}).get("x-care-detail"),
                "parked_at": (m.headers or {}).get("x-care-parked-at"),
            }
            for m in seen
        ]
        for message in seen:
            await message.nack(requeue=True)
        return found
    finally:
        await connection.close()


async def replay(amqp_url: str, queue: str, limit: int | None = None) -> int:
    """Move up to ``limit`` messages (all, by default) from ``queue``'s DLQ back to it."""
    connection = await aio_pika.connect(amqp_url)
    moved = 0
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        dlq = await channel.declare_queue(f"{_known(queue)}.dlq", passive=True)
        while limit is None or moved < limit:
            message = await dlq.get(fail=False)
            if message is None:
                break
            headers = {
                k: v for k, v in (message.headers or {}).items() if k not in _FAILURE_HEADERS
            }
            headers["x-care-replayed-at"] = datetime.now(UTC).isoformat()
            await channel.default_exchange.publish(
                aio_pika.Message(
                    message.body,
                    headers=headers,
                    content_type=message.content_type,
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    type=message.type,
                    app_id=message.app_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=queue,
                mandatory=True,
            )
            await message.ack()
            moved += 1
        return moved
    finally:
        await connection.close()


async def purge_dead_letters(connection: AbstractConnection) -> int:
    """Purge every dead-letter queue of the topology; returns how many messages went."""
    channel = await connection.channel()
    purged = 0
    try:
        for sub in subscriptions():
            queue = await channel.declare_queue(sub.dead_letter_queue_name, passive=True)
            result = await queue.purge()
            purged += int(result.message_count or 0)
    finally:
        await channel.close()
    return purged


def _known(queue: str) -> str:
    if queue not in consumer_queues():
        raise SystemExit(f"{queue} is not a consumer queue; `list` shows them")
    return queue


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="messages in each dead-letter queue")
    for name in ("show", "replay"):
        sub = commands.add_parser(name)
        sub.add_argument("queue", help="the consumer queue, e.g. dispatch.order.placed")
        sub.add_argument("--limit", type=int, default=10 if name == "show" else None)
    args = parser.parse_args()
    url = os.environ.get("CARE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    if args.command == "list":
        for queue, count in asyncio.run(counts(url)).items():
            if count:
                print(f"{count:8d}  {queue}.dlq")
    elif args.command == "show":
        for entry in asyncio.run(show(url, args.queue, args.limit)):
            print(entry)
    else:
        moved = asyncio.run(replay(url, args.queue, args.limit))
        print(f"moved {moved} messages back to {args.queue}")


if __name__ == "__main__":
    main()
