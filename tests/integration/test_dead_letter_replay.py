"""The operator's dead-letter replay puts parked messages back on their queue, once each.

Runs in a fresh virtual host on the test session's own RabbitMQ node (tests/support/infra.py)
with the platform's real topology declared, so the queues have their real arguments (quorum,
delivery limit, DLX).
"""

from __future__ import annotations

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker

from shared.messaging import dead_letters
from shared.messaging.topology import declare_topology
from tests.support import infra
from tests.support.platform import eventually

pytestmark = pytest.mark.integration

QUEUE = "dispatch.order.placed"


@pytest.fixture(scope="module")
async def broker_url() -> str:
    _vhost, url = await infra.claim_vhost()
    broker = RabbitBroker(url)
    await broker.connect()
    await declare_topology(broker)
    await broker.stop()
    return url


async def park(url: str, bodies: list[bytes]) -> None:
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    for body in bodies:
        await channel.default_exchange.publish(
            aio_pika.Message(
                body,
                headers={"x-care-reason": "handler_failed", "x-delivery-count": 4},
                message_id=body.decode(),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=f"{QUEUE}.dlq",
        )
    await connection.close()


async def take_all(url: str, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    declared = await channel.declare_queue(queue, passive=True)
    taken = []
    while (message := await declared.get(fail=False, no_ack=True)) is not None:
        taken.append(message)
    await connection.close()
    return taken


async def test_list_show_and_replay_move_each_message_back_once(broker_url: str) -> None:
    await park(broker_url, [b"one", b"two", b"three"])

    async def three_parked() -> bool:
        return (await dead_letters.counts(broker_url))[QUEUE] == 3

    await eventually(three_parked)
    shown = await dead_letters.show(broker_url, QUEUE, 2)
    assert [s["reason"] for s in shown] == ["handler_failed", "handler_failed"]
    await eventually(three_parked)  # showing leaves them parked

    assert await dead_letters.replay(broker_url, QUEUE, limit=2) == 2
    assert await dead_letters.replay(broker_url, QUEUE) == 1
    assert (await dead_letters.counts(broker_url))[QUEUE] == 0

    back = await take_all(broker_url, QUEUE)
    assert sorted(m.body for m in back) == [b"one", b"three", b"two"]
    for message in back:
        headers = message.headers or {}
        assert headers["x-care-reason"] == "handler_failed"  # why it was parked, kept
        assert "x-care-replayed-at" in headers
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


async def test_an_unknown_queue_is_refused_by_name(broker_url: str) -> None:
    with pytest.raises(SystemExit, match="not a consumer queue"):
        await dead_letters.replay(broker_url, "dispatch.no-such-queue")
