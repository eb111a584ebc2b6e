"""Helpers for dispatch's integration tests and its reservations benchmark.

Dispatch's tests run dispatch alone (one or more replicas) on a fresh vhost and database and
publish what the other services would, so each test starts from an empty warehouse and
controls exactly which events arrive, and in what order.

Publishing thousands of events one channel at a time (``Platform.publish``) would measure the
test rather than the service, so :func:`publish_many` keeps a window of confirmed publishes in
flight on one channel, as a busy orders relay would.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
from sqlalchemy import text

from services.dispatch.store import ledger
from services.dispatch.store import orders as dispatch_orders
from services.dispatch.store import placements as dispatch_placements
from services.dispatch.store import shipments as dispatch_shipments
from services.dispatch.store.orders import OrderRow
from services.dispatch.store.shipments import ShipmentRow
from shared.events import (
    AccountKind,
    Delivery,
    EventPayload,
    OrderLine,
    OrderPlaced,
    OrderVerified,
    wrap,
)
from shared.events.envelope import EVENTS_EXCHANGE
from tests.support import infra
from tests.support.platform import Platform, eventually

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
_next_seq = iter(range(1, 10_000_000))

DELIVERY = Delivery(
    recipient_name="Test Recipient",
    organisation_name="Test Care Ltd",
    address_line_1="1 Test Street",
    city="Leeds",
    postcode="LS1 4AP",
)


def placed(
    quantity: int, *, seq: int | None = None, kind: AccountKind = AccountKind.NON_CQC
) -> OrderPlaced:
    """One OrderPlaced; ``seq`` is its place in the order of placement (next one if None)."""
    seq = next(_next_seq) if seq is None else seq
    order_id = uuid.uuid4()
    return OrderPlaced(
        order_id=order_id,
        reference=f"CB-{order_id.hex[:4].upper()}-{order_id.hex[4:8].upper()}",
        account_id=uuid.uuid4(),
        account_kind=kind,
        placed_at=START + timedelta(milliseconds=seq),
        placement_seq=seq,
        lines=[OrderLine(location_id=None, staff_count=quantity)],
        quantity=quantity,
        delivery=DELIVERY,
    )


def placements(quantities: Sequence[int], *, first_seq: int = 1) -> list[OrderPlaced]:
    """One OrderPlaced per quantity, placed in that order (ascending ``placement_seq``)."""
    return [placed(q, seq=first_seq + i) for i, q in enumerate(quantities)]


def interleaved(orders: list[OrderPlaced], window: int, seed: int) -> list[OrderPlaced]:
    """Placement order, shuffled within consecutive windows of ``window`` orders, as two
    relays publishing side by side would deliver them."""
    rng = random.Random(seed)
    out: list[OrderPlaced] = []
    for start in range(0, len(orders), window):
        chunk = orders[start : start + window]
        rng.shuffle(chunk)
        out.extend(chunk)
    return out


def verified(order: OrderPlaced) -> OrderVerified:
    return OrderVerified(order_id=order.order_id, decided_by="automatic")


@asynccontextmanager
async def dispatch_platform(replicas: int = 1, **overrides: Any) -> AsyncIterator[Platform]:
    """Dispatch alone, ``replicas`` instances, on a fresh vhost and database."""
    async with Platform() as platform:
        for _ in range(replicas):
            await platform.start("dispatch", **overrides)
        yield platform


async def publish_many(
    amqp_url: str, payloads: Iterable[EventPayload], *, in_flight: int = 400
) -> list[uuid.UUID]:
    """Publish persistent, mandatory, confirmed messages with ``in_flight`` awaiting confirms;
    returns their event ids.

    Messages leave in the order given; a window's confirms are all awaited before the next
    window, so nothing counts as sent before the broker has taken responsibility for it.
    """
    connection = await aio_pika.connect_robust(amqp_url)
    ids: list[uuid.UUID] = []
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        window: list[asyncio.Future[Any]] = []
        for payload in payloads:
            envelope = wrap(payload, f"test-{payload.TYPE}")
            ids.append(envelope.event_id)
            message = aio_pika.Message(
                envelope.model_dump_json().encode(),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                content_type="application/json",
                message_id=str(envelope.event_id),
                type=payload.TYPE,
            )
            window.append(
                asyncio.ensure_future(
                    exchange.publish(message, routing_key=payload.ROUTING_KEY, mandatory=True)
                )
            )
            if len(window) >= in_flight:
                await asyncio.gather(*window)
                window = []
        await asyncio.gather(*window)
    finally:
        await connection.close()
    return ids


async def dispatch_settled(platform: Platform, timeout: float = 60.0) -> None:
    """Wait until dispatch's own queues are empty twice in a row (the other services are not
    running here, so their queues fill up by design)."""

    async def quiet() -> bool:
        backlog = await infra.queue_backlogs(platform.vhost)
        return not any(
            count
            for name, count in backlog.items()
            if name.startswith("dispatch.") and not name.endswith(".dlq")
        )

    await eventually(quiet, timeout)
    await eventually(quiet, timeout)


TABLES = (
    "stock",
    "stock_ledger",
    "dispatch_orders",
    "shipments",
    "courier_callbacks",
    "anonymised_accounts",
    "outbox",
    "inbox",
)


class Dispatch:
    """Sends dispatch events and reads its database the way a test asks questions of it."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.sent: list[uuid.UUID] = []

    @property
    def db(self) -> Any:
        return self.platform.service("dispatch").db

    async def send(self, *payloads: EventPayload) -> list[uuid.UUID]:
        """Publish events as their producers would, in the order given."""
        ids = await publish_many(self.platform.amqp_url, payloads)
        self.sent.extend(ids)
        return ids

    async def handled(self, timeout: float = 60) -> None:
        """Wait until dispatch has handled (committed) every event this helper sent, and its
        allocator has decided every placement recorded."""
        await self._consumed(timeout)

        async def decided() -> bool:
            async with self.db.transaction() as s:
                return (await dispatch_placements.undecided_count(s)).pending == 0

        await eventually(decided, timeout)

    async def _consumed(self, timeout: float) -> None:
        waiting = set(self.sent)
        # Thousands outstanding: poll less often, so the test does not compete with dispatch.
        pause = 0.5 if len(waiting) > 1000 else 0.05
        deadline = asyncio.get_running_loop().time() + timeout
        while waiting:
            async with self.db.transaction() as s:
                rows = await s.execute(
                    text("SELECT event_id FROM inbox WHERE event_id = ANY(:ids)"),
                    {"ids": list(waiting)},
                )
                waiting -= {r[0] for r in rows}
            if not waiting:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{len(waiting)} events not handled within {timeout}s")
            await asyncio.sleep(pause)

    @classmethod
    async def empty(cls, platform: Platform, stock: int = 0) -> Dispatch:
        """A prober of the platform's dispatch, its warehouse emptied, then holding
        ``stock`` badges (each test's fixture, on a module's running dispatch)."""
        probe = cls(platform)
        await probe.reset()
        if stock:
            await platform.receive_stock(stock)
        return probe

    async def reset(self) -> None:
        """An empty warehouse again, once everything sent so far has been handled."""
        await self.handled()
        async with self.db.transaction() as s:
            await s.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        self.sent.clear()

    async def order(self, order_id: uuid.UUID) -> OrderRow | None:
        async with self.db.transaction() as s:
            return await dispatch_orders.get_order(s, order_id)

    async def state(self, order_id: uuid.UUID) -> str | None:
        order = await self.order(order_id)
        return order.facts.state.value if order and order.facts.placed else None

    async def until_state(self, order_id: uuid.UUID, state: str, timeout: float = 20) -> None:
        async def reached() -> bool:
            return await self.state(order_id) == state

        await eventually(reached, timeout)

    async def until_placed(self, count: int, timeout: float = 60) -> None:
        """Wait until ``count`` placements have been decided (reserved, waitlisted or closed)."""

        async def placed_count() -> bool:
            async with self.db.transaction() as s:
                n = await s.scalar(text("SELECT count(*) FROM dispatch_orders WHERE placed"))
            return int(n or 0) >= count

        await eventually(placed_count, timeout)

    async def shipment(self, order_id: uuid.UUID) -> ShipmentRow | None:
        async with self.db.transaction() as s:
            return await dispatch_shipments.shipment_for_order(s, order_id)

    async def until_shipped(self, order_id: uuid.UUID, timeout: float = 20) -> ShipmentRow:
        return await eventually(lambda: self.shipment(order_id), timeout)

    async def events(self, event_type: str, order_id: uuid.UUID | None = None) -> list[Any]:
        """Payloads of the events dispatch has emitted (its outbox), oldest first."""
        async with self.db.transaction() as s:
            rows = await s.execute(
                text("SELECT body FROM outbox WHERE event_type = :t ORDER BY id"),
                {"t": event_type},
            )
            payloads = [json.loads(r.body)["payload"] for r in rows]
        if order_id is not None:
            payloads = [p for p in payloads if p.get("order_id") == str(order_id)]
        return payloads

    async def stock_events(self) -> list[tuple[str, dict[str, Any]]]:
        """StockReserved, StockReleased and StockWaitlisted, in the order they were emitted."""
        async with self.db.transaction() as s:
            rows = await s.execute(
                text(
                    "SELECT event_type, body FROM outbox WHERE event_type IN"
                    " ('StockReserved', 'StockReleased', 'StockWaitlisted') ORDER BY id"
                )
            )
            return [(r.event_type, json.loads(r.body)["payload"]) for r in rows]

    async def picture(self) -> StockPicture:
        async with self.db.transaction() as s:
            return await stock_picture(s)


@dataclass(frozen=True)
class StockPicture:
    """Dispatch's stock, ledger and queue, read in one transaction."""

    received: int
    reserved: int
    allocated: int
    ledger_consistent: bool
    orders_out_of_step: int
    reserved_seqs: list[int]
    allocated_seqs: list[int]
    waitlisted_seqs: list[int]
    #: The waitlist as dispatch serves it (placement order), by placement_seq.
    waitlist_in_service_order: list[int]

    @property
    def available(self) -> int:
        return self.received - self.reserved - self.allocated


async def stock_picture(session: Any) -> StockPicture:
    balance = await ledger.read_stock(session)
    check = await ledger.check_ledger(session)

    async def seqs(state: str) -> list[int]:
        rows = await session.execute(
            text(
                "SELECT placement_seq FROM dispatch_orders"
                " WHERE state = :s AND NOT closed ORDER BY placement_seq"
            ),
            {"s": state},
        )
        return [int(r[0]) for r in rows]

    served = [w.placement_seq for w in await dispatch_placements.waitlist(session)]
    return StockPicture(
        received=balance.received,
        reserved=balance.reserved,
        allocated=balance.allocated,
        ledger_consistent=check.consistent,
        orders_out_of_step=check.orders_out_of_step,
        reserved_seqs=await seqs("reserved"),
        allocated_seqs=await seqs("allocated"),
        waitlisted_seqs=await seqs("waitlisted"),
        waitlist_in_service_order=served,
    )
