"""Reconcile what the platform did against what was asked of it, from its own stores.

Used by the scale-out test, the launch benchmark and the chaos scenario, so "the same outcome"
means the same thing in all three. The checks follow a total-queue checker: every accepted
order has exactly one final state (lost = none), nothing happened that nobody asked for
(unexpected = an effect for an unknown order), no order was dispatched twice, the badge
stock ledger balances to the unit, and the dead-letter queues are empty.

A *final state* for launch day is one the order rests in without more traffic:

- ``handed_off``: dispatch allocated it and a shipment exists (the courier has it);
- ``in_review``: verification referred it to a person, its stock reserved meanwhile;
- ``waitlisted``: verified or not, no stock is left for it and it waits in placement order.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.messaging.topology import subscriptions
from tests.support.polling import eventually

FINAL_STATES = ("handed_off", "in_review", "waitlisted")
COURIER_QUEUE = "courier.courier.handoff"


@dataclass
class Reconciliation:
    """The counts, and every way they fail to add up (empty when all is well)."""

    counts: dict[str, Any] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def report(self) -> str:
        lines = [f"  {k}: {v}" for k, v in self.counts.items()]
        verdict = "reconciled" if self.ok else "MISMATCH:\n    " + "\n    ".join(self.mismatches)
        return "reconciliation\n" + "\n".join(lines) + f"\n  {verdict}"


async def _rows(url: str, sql: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())
    finally:
        await engine.dispose()


async def dispatch_outbox_sent(url: str, within: float = 60.0) -> bool:
    """Whether everything dispatch committed to its outbox has been published, waiting up to
    ``within`` seconds. An order can be final in orders (its OrderDispatched arrived) while
    its courier handoff, published just after it, is still in the outbox of a dispatch killed
    between the two: the relay's sweep sends it a few seconds after the restart. Draining the
    courier's queue before then counted a handoff as missing that was only late."""

    async def all_sent() -> bool:
        [(unsent,)] = await _rows(url, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return not unsent

    try:
        return await eventually(all_sent, timeout=within, every=0.5)
    except AssertionError:
        return False


async def final_states(database_urls: dict[str, str]) -> dict[str, str]:
    """Each order dispatch or verification knows of, mapped to its final state (or why not)."""
    dispatch = {
        str(r[0]): (r[1], r[2])
        for r in await _rows(
            database_urls["dispatch"],
            "SELECT d.order_id, d.state, s.reference IS NOT NULL"
            " FROM dispatch_orders d LEFT JOIN shipments s USING (order_id)",
        )
    }
    verification = {
        str(r[0]): r[1]
        for r in await _rows(database_urls["verification"], "SELECT order_id, state FROM orders")
    }
    return {
        order_id: classify(
            *dispatch.get(order_id, ("unknown", False)), verification.get(order_id, "unknown")
        )
        for order_id in set(dispatch) | set(verification)
    }


def classify(stock_state: str, shipped: bool, decision: str) -> str:
    """An order's launch-day final state from dispatch's and verification's view of it."""
    if shipped and stock_state == "allocated":
        return "handed_off"
    if stock_state == "waitlisted":
        return "waitlisted"
    if decision == "referred" and stock_state == "reserved":
        return "in_review"
    return f"unfinished(stock={stock_state}, decision={decision})"


async def _connect(amqp_url: str) -> aio_pika.abc.AbstractConnection:
    """A plain connection that gives up after 30 s rather than waiting for ever."""
    return await asyncio.wait_for(aio_pika.connect(amqp_url, timeout=30), 60)


async def drain_handoffs(amqp_url: str) -> list[dict[str, Any]]:
    """Take every courier handoff waiting in the courier's queue (the courier's view)."""
    connection = await _connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(COURIER_QUEUE, passive=True)
        taken: list[dict[str, Any]] = []
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            taken.append(json.loads(message.body))
        return taken
    finally:
        await connection.close()


async def dead_letters(amqp_url: str) -> dict[str, int]:
    """Messages ready in each dead-letter queue that holds any."""
    connection = await _connect(amqp_url)
    try:
        channel = await connection.channel()
        held = {}
        for sub in subscriptions():
            if sub.consumer == "courier":
                continue
            queue = await channel.declare_queue(sub.dead_letter_queue_name, passive=True)
            count = queue.declaration_result.message_count or 0
            if count:
                held[sub.dead_letter_queue_name] = count
        return held
    finally:
        await connection.close()


async def ledger_mismatches(dispatch_url: str) -> tuple[dict[str, int], list[str]]:
    """The badge stock row against the sum of its ledger, and allocations against shipments."""
    totals = dict(
        await _rows(
            dispatch_url,
            "SELECT kind, sum(quantity)::bigint FROM stock_ledger"
            " WHERE item = 'badge' GROUP BY kind",
        )
    )
    (received, reserved, allocated), *_ = await _rows(
        dispatch_url, "SELECT received, reserved, allocated FROM stock WHERE item = 'badge'"
    )
    (shipped_quantity,), *_ = await _rows(
        dispatch_url,
        "SELECT coalesce(sum(d.quantity), 0)::bigint FROM shipments s"
        " JOIN dispatch_orders d USING (order_id)",
    )
    (live_reserved,), *_ = await _rows(
        dispatch_url,
        "SELECT coalesce(sum(quantity), 0)::bigint FROM dispatch_orders WHERE state = 'reserved'",
    )

    def total(kind: str) -> int:
        return int(totals.get(kind, 0))

    figures = {
        "received": int(received),
        "reserved": int(reserved),
        "allocated": int(allocated),
        "available": int(received) - int(reserved) - int(allocated),
    }
    wrong = []
    if received != total("receipt") + total("adjustment"):
        wrong.append(f"stock received {received} != ledger receipts {total('receipt')}")
    ledger_reserved = total("reservation") - total("release") - total("allocation")
    if reserved != ledger_reserved:
        wrong.append(f"stock reserved {reserved} != ledger reserved {ledger_reserved}")
    if reserved != live_reserved:
        wrong.append(f"stock reserved {reserved} != orders holding a reservation {live_reserved}")
    if allocated != total("allocation") or allocated != shipped_quantity:
        wrong.append(
            f"stock allocated {allocated}, ledger allocations {total('allocation')},"
            f" shipped {shipped_quantity}: not equal"
        )
    if figures["available"] < 0:
        wrong.append(f"stock went below zero: {figures['available']}")
    return figures, wrong


async def reconcile(
    database_urls: dict[str, str],
    amqp_url: str,
    accepted: Iterable[str],
    handoffs: list[dict[str, Any]] | None = None,
) -> Reconciliation:
    """Check every accepted order against the stores, the courier's queue and the DLQs.

    ``handoffs`` are the courier messages already taken off its queue, if the caller did;
    otherwise they are drained here.
    """
    result = Reconciliation()
    accepted_ids = {str(a) for a in accepted}
    states = await final_states(database_urls)
    per_state = Counter(states.get(o, "lost") for o in accepted_ids)
    unexpected = sorted(set(states) - accepted_ids)
    result.counts["accepted"] = len(accepted_ids)
    result.counts.update({s: per_state.get(s, 0) for s in FINAL_STATES})
    stray = {s: n for s, n in per_state.items() if s not in FINAL_STATES}
    if stray:
        result.mismatches.append(f"orders without a final state: {dict(stray)}")
    if unexpected:
        result.mismatches.append(f"{len(unexpected)} orders nobody placed, e.g. {unexpected[0]}")

    orders_rows = await _rows(database_urls["orders"], "SELECT id FROM orders")
    in_orders = {str(r[0]) for r in orders_rows}
    if in_orders != accepted_ids:
        result.mismatches.append(
            f"orders service holds {len(in_orders)} orders, {len(accepted_ids)} were accepted"
        )

    if handoffs is None and not await dispatch_outbox_sent(database_urls["dispatch"]):
        result.mismatches.append("dispatch's outbox still held unsent events after 60 s")
    taken = handoffs if handoffs is not None else await drain_handoffs(amqp_url)
    shipments = {
        str(r[0]): r[1]
        for r in await _rows(database_urls["dispatch"], "SELECT order_id, reference FROM shipments")
    }
    references = Counter(h["payload"]["shipment_reference"] for h in taken)
    result.counts["shipments"] = len(shipments)
    result.counts["courier_handoffs"] = len(taken)
    result.counts["courier_handoffs_resent"] = sum(n - 1 for n in references.values())
    if set(references) != set(shipments.values()):
        result.mismatches.append(
            f"courier saw {len(references)} shipments, dispatch made {len(shipments)}"
        )
    if per_state.get("handed_off", 0) != len(shipments):
        result.mismatches.append(
            f"{per_state.get('handed_off', 0)} orders handed off but {len(shipments)} shipments"
        )

    stock, wrong = await ledger_mismatches(database_urls["dispatch"])
    result.counts["stock"] = stock
    result.mismatches.extend(wrong)

    parked = await dead_letters(amqp_url)
    result.counts["dead_lettered"] = sum(parked.values())
    if parked:
        result.mismatches.append(f"dead-letter queues hold messages: {parked}")
    return result
