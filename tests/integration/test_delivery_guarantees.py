"""What the messaging promises, shown on real RabbitMQ and PostgreSQL.

Each test names a fault (a duplicate, a crash, a poison message, replicas racing) and shows
that every effect still happens exactly once and nothing is lost.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, text

from services.dispatch.store import orders as dispatch_orders
from services.dispatch.store.tables import shipments, stock_ledger
from services.dispatch.usecases.placements import Placements
from services.orders.store.tables import metadata as orders_metadata
from shared.events import OrderPlacedForReporting
from shared.events.reporting import NON_CQC_PROVIDER
from shared.messaging.topology import DELIVERY_LIMIT
from shared.metrics import INBOX_DUPLICATES
from shared.runtime import Service
from tests.support.events import order_placed, verified
from tests.support.journeys import place_order, sign_in, single_location_rows
from tests.support.platform import Platform, eventually, settled


async def ledger_entries(platform: Platform, order_id: uuid.UUID, kind: str) -> int:
    async with platform.service("dispatch").db.transaction() as s:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(stock_ledger)
                .where(stock_ledger.c.order_id == order_id, stock_ledger.c.kind == kind)
            )
            or 0
        )


async def shipment_count(platform: Platform, order_id: uuid.UUID) -> int:
    async with platform.service("dispatch").db.transaction() as s:
        return int(
            await s.scalar(
                select(func.count()).select_from(shipments).where(shipments.c.order_id == order_id)
            )
            or 0
        )


async def dispatch_knows_verified(platform: Platform, order_id: uuid.UUID) -> bool:
    async with platform.service("dispatch").db.transaction() as s:
        order = await dispatch_orders.get_order(s, order_id)
    return order is not None and order.facts.verified


async def reporting_total(platform: Platform, metric: str) -> int:
    async with platform.service("reporting").db.transaction() as s:
        value = await s.scalar(
            text("SELECT coalesce(sum(value), 0) FROM daily_figures WHERE metric = :m"),
            {"m": metric},
        )
    return int(value or 0)


def duplicates(service: str, event_type: str) -> float:
    return INBOX_DUPLICATES.labels(service, event_type)._value.get()


async def test_the_same_event_delivered_twice_has_one_effect(platform: Platform) -> None:
    await settled(platform)
    placed_before = await reporting_total(platform, "orders_placed")
    dupes_before = duplicates("reporting", "OrderPlacedForReporting")
    event = order_placed(quantity=7)
    await platform.publish(event)
    reported = OrderPlacedForReporting.of(event, NON_CQC_PROVIDER)
    envelope = await platform.publish(reported)
    await platform.publish(reported, envelope=envelope)  # same event_id: a redelivery

    await eventually(
        lambda: _at_least(duplicates("reporting", "OrderPlacedForReporting"), dupes_before + 1)
    )
    await eventually(lambda: ledger_entries(platform, event.order_id, "reservation"))
    assert await reporting_total(platform, "orders_placed") == placed_before + 1
    assert await ledger_entries(platform, event.order_id, "reservation") == 1


async def test_verified_before_placed_still_dispatches_once(platform: Platform) -> None:
    event = order_placed(quantity=3)
    await platform.publish(verified(event))
    await eventually(lambda: dispatch_knows_verified(platform, event.order_id))
    await platform.publish(event)
    await eventually(lambda: shipment_count(platform, event.order_id))
    await platform.publish(verified(event, by=str(uuid.uuid4())))  # a second, distinct verdict
    await settled(platform)
    assert await shipment_count(platform, event.order_id) == 1
    assert await ledger_entries(platform, event.order_id, "allocation") == 1


async def test_a_malformed_message_is_parked_with_its_reason_and_the_next_flows(
    platform: Platform,
) -> None:
    await platform.publish(
        b'{"type": "OrderPlaced", "payload": {"quantity": "lots"}}', routing_key="order.placed"
    )
    await platform.publish(b"not json at all", routing_key="order.placed")
    parked = await eventually(
        lambda: DeadLetters(platform, "dispatch.order.placed.dlq").at_least(2)
    )
    reasons = {m.headers["x-care-reason"] for m in parked}
    assert reasons == {"invalid"}
    assert any("payload" in str(m.headers["x-care-detail"]) for m in parked)

    event = order_placed(quantity=2)
    await platform.publish(event)
    assert await eventually(lambda: ledger_entries(platform, event.order_id, "reservation"))


async def test_a_handler_that_always_fails_is_parked_after_the_delivery_limit(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison = order_placed(quantity=4)
    attempts: list[int] = []
    original = Placements.order_placed

    async def failing(self: Placements, session: Any, event: Any, correlation_id: str) -> None:
        if event.order_id == poison.order_id:
            attempts.append(1)
            raise RuntimeError("simulated bug in the reservation code")
        await original(self, session, event, correlation_id)

    monkeypatch.setattr(Placements, "order_placed", failing)
    await platform.publish(poison)
    dead = DeadLetters(platform, "dispatch.order.placed.dlq")
    parked = await eventually(lambda: dead.at_least(1), timeout=30)
    assert parked[0].headers["x-care-reason"] == "handler_failed"
    assert "simulated bug" in str(parked[0].headers["x-care-detail"])
    assert len(attempts) == DELIVERY_LIMIT
    assert await ledger_entries(platform, poison.order_id, "reservation") == 0

    healthy = order_placed(quantity=1)
    await platform.publish(healthy)
    assert await eventually(lambda: ledger_entries(platform, healthy.order_id, "reservation"))


async def test_a_database_outage_longer_than_the_delivery_limit_does_not_park_the_message(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    event = order_placed(quantity=8)
    failures = DELIVERY_LIMIT + 1
    calls: list[int] = []
    original = Placements.order_placed

    async def flaky(self: Placements, session: Any, placed: Any, correlation_id: str) -> None:
        if placed.order_id == event.order_id and len(calls) < failures:
            calls.append(1)
            raise OperationalError("SELECT", {}, ConnectionRefusedError("database restarting"))
        await original(self, session, placed, correlation_id)

    monkeypatch.setattr(Placements, "order_placed", flaky)
    dead = DeadLetters(platform, "dispatch.order.placed.dlq")
    await platform.publish(event)
    assert await eventually(lambda: ledger_entries(platform, event.order_id, "reservation"))
    assert len(calls) == failures
    assert await dead.at_least(1) is None


async def test_a_crash_between_commit_and_publish_still_publishes(platform: Platform) -> None:
    """The outbox: the order commits, the process dies before its relay runs, a new one sends."""
    doomed: Service = await platform.start("orders")
    await doomed.relay.stop()  # this instance will never publish
    site = single_location_rows()[1]
    session = await sign_in(platform, site.email, site.ods_code)
    # Place through the instance whose relay is stopped.
    index = len(platform.apps["orders"]) - 1
    for other in platform.apps["orders"][:index]:
        await other.state.service.relay.stop()
    placed = await place_order(
        platform, session["access_token"], [(site.location_id, 9)], site.location_id, instance=index
    )
    order_id = uuid.UUID(placed["order_id"])
    await settled(platform)  # nothing in flight: had it been published, it would be handled
    assert await ledger_entries(platform, order_id, "reservation") == 0
    outbox = orders_metadata.tables["outbox"]
    async with doomed.db.transaction() as s:
        pending = await s.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )
    assert pending and pending >= 1

    await doomed.stop()  # the crash: nothing was published
    await platform.start("orders")  # a replacement process with its own relay
    assert await eventually(lambda: ledger_entries(platform, order_id, "reservation"))
    for other in platform.apps["orders"][:index]:
        other.state.service.relay.start()


async def test_a_crash_before_the_ack_is_redelivered_and_absorbed(platform: Platform) -> None:
    """The inbox: the effect commits, the consumer dies before acking, the redelivery is a no-op."""
    crashed = asyncio.Event()
    victim: Service = platform.service("reporting")
    connection = victim.broker._connection
    assert connection is not None

    target = OrderPlacedForReporting.of(order_placed(quantity=6), NON_CQC_PROVIDER)
    ack = victim.consumers.acknowledge

    async def die(message: Any) -> None:
        if str(target.order_id) not in message.body.decode() or "OrderPlacedForReporting" not in (
            message.raw_message.type or ""
        ):
            await ack(message)
            return
        crashed.set()
        asyncio.get_running_loop().create_task(connection.close())
        raise asyncio.CancelledError  # the process is gone: no ack is ever sent

    victim.consumers.acknowledge = die  # type: ignore[method-assign]
    await settled(platform)  # reporting may trail (its worker waits to gather deliveries)
    before = await reporting_total(platform, "orders_placed")
    dupes_before = duplicates("reporting", "OrderPlacedForReporting")
    await platform.publish(target, type="OrderPlacedForReporting")
    await asyncio.wait_for(crashed.wait(), 20)
    assert await reporting_total(platform, "orders_placed") == before + 1  # committed

    await platform.start("reporting")  # the replacement receives the unacked message again
    await eventually(
        lambda: _at_least(duplicates("reporting", "OrderPlacedForReporting"), dupes_before + 1)
    )
    assert await reporting_total(platform, "orders_placed") == before + 1


async def _at_least(value: float, target: float) -> bool:
    return value >= target


class DeadLetters:
    """What a test has taken from a dead-letter queue so far."""

    def __init__(self, platform: Platform, queue: str) -> None:
        self.platform, self.queue, self.taken = platform, queue, []  # type: list[Any]

    async def at_least(self, count: int) -> list[Any] | None:
        self.taken.extend(await self.platform.drain(self.queue, timeout=0.2))
        return self.taken if len(self.taken) >= count else None


async def test_deliveries_committed_together_share_an_ack_that_never_covers_a_retried_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """shared.messaging.acks on the real broker: twelve deliveries held until all have
    arrived commit together and are acknowledged in fewer frames than deliveries, while the
    one in the middle whose transaction failed is not covered by them: it is rejected,
    comes back and commits once. A covered tag acknowledged twice would close the channel.
    One reporting instance of its own, so that every delivery reaches the same channel."""
    from faststream.rabbit.message import RabbitMessage

    events = [
        OrderPlacedForReporting.of(order_placed(quantity=1), NON_CQC_PROVIDER) for _ in range(12)
    ]
    retried = events[5].order_id
    frames: list[tuple[int, bool]] = []
    original_ack = RabbitMessage.ack

    async def recorded(self: RabbitMessage, multiple: bool = False) -> None:
        if self.raw_message.routing_key == OrderPlacedForReporting.ROUTING_KEY:
            frames.append((self.raw_message.delivery_tag or 0, multiple))
        await original_ack(self, multiple)

    monkeypatch.setattr(RabbitMessage, "ack", recorded)
    async with Platform() as platform:
        group = (await platform.start("reporting")).consumers.group
        original_run, gate, held, failed = group.run, asyncio.Event(), [], []

        async def gathered(consumer: str, handler: Any, envelope: Any, **kwargs: Any) -> bool:
            if envelope.type == events[0].TYPE and not kwargs.get("alone") and not failed:
                held.append(envelope)
                await gate.wait()
                if envelope.payload.order_id == retried:
                    failed.append(envelope)
                    raise RuntimeError("simulated failure of this delivery's transaction")
            return await original_run(consumer, handler, envelope, **kwargs)

        monkeypatch.setattr(group, "run", gathered)
        before = await reporting_total(platform, "orders_placed")
        for event in events:
            await platform.publish(event, type=event.TYPE)
        await eventually(lambda: _at_least(len(held), len(events)))
        gate.set()
        await eventually(lambda: _placed_at_least(platform, before + len(events)))
        await settled(platform)  # nothing left unacknowledged in any queue
        assert await reporting_total(platform, "orders_placed") == before + len(events)
    assert len(failed) == 1  # the retried one came back and committed once
    assert len(frames) < len(events)  # one frame each would be twelve
    assert any(multiple for _, multiple in frames)


async def _placed_at_least(platform: Platform, target: int) -> bool:
    return await reporting_total(platform, "orders_placed") >= target
