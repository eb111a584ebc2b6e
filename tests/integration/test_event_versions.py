"""During a rollout one queue carries two versions of an event, and both are handled.

A consumer that has moved to v2 still receives v1 from producers not yet upgraded: it reads
v1 through v2's upcaster, on the real broker and database, each exactly once. A v3 that
arrives before any consumer reads it is parked in the dead-letter queue with its reason,
ready to replay once consumers catch up, and nothing else stops.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import Envelope
from shared.messaging.topology import DEAD_LETTER_EXCHANGE, EXCHANGES, Subscription
from shared.runtime import Service
from tests.support.platform import Platform, eventually
from tests.support.rollout import Probe, ProbeV1, ProbeV3, registered

pytestmark = pytest.mark.integration


@pytest.fixture
async def rolling_out() -> AsyncIterator[tuple[Platform, list[Probe]]]:
    """Reporting with one more handler, for the v2 probe, on the session's broker."""
    with registered(ProbeV1, Probe, ProbeV3):
        async with Platform() as platform:
            service: Service = platform.build("reporting").state.service
            handled: list[Probe] = []

            @service.handles(Probe)
            async def record(session: AsyncSession, envelope: Envelope[Any]) -> None:
                handled.append(envelope.payload)

            await service.start()
            # Its dead-letter queue, as the topology declares one for every subscription.
            probe = Subscription("reporting", Probe)
            dlq = await service.broker.declare_queue(probe.dead_letter_queue())
            dead_letters = await service.broker.declare_exchange(EXCHANGES[DEAD_LETTER_EXCHANGE])
            await dlq.bind(dead_letters, routing_key=probe.queue_name)
            yield platform, handled


async def test_v1_and_v2_of_one_event_are_both_consumed_during_a_rollout(
    rolling_out: tuple[Platform, list[Probe]],
) -> None:
    platform, handled = rolling_out
    old, new = uuid.uuid4(), uuid.uuid4()
    v1 = await platform.publish(ProbeV1(order_id=old, badges=30))
    await platform.publish(Probe(order_id=new, quantity=50, parcels=2))
    await platform.publish(ProbeV1(order_id=old, badges=30), envelope=v1)  # redelivered

    async def both() -> bool:
        return len(handled) >= 2

    await eventually(both)
    await platform.publish(ProbeV3(order_id=uuid.uuid4()))
    parked = await eventually(
        lambda: platform.drain("reporting.test.rollout.probe.dlq", timeout=0.5)
    )
    assert sorted(handled, key=lambda p: p.quantity) == [
        Probe(order_id=old, quantity=30, parcels=1),
        Probe(order_id=new, quantity=50, parcels=2),
    ]
    assert [m.headers["x-care-reason"] for m in parked] == ["unknown_version"]
    assert "v3 is newer than v2" in str(parked[0].headers["x-care-detail"])
