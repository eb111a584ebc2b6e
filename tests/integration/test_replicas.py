"""Several replicas of a service at once: competing consumers, several relays, each effect once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from tests.support.journeys import place_order, sign_in, single_location_rows
from tests.support.platform import Platform, eventually, settled

ORDERS = 24


@pytest.fixture(scope="module")
async def replicated() -> AsyncIterator[Platform]:
    async with Platform() as p:
        await p.start_all()
        for name in ("orders", "dispatch", "verification", "reporting"):
            await p.start(name)  # a second replica of each
        await p.load_register()
        await p.receive_stock(100_000)
        yield p


async def test_two_relays_and_two_consumers_produce_each_effect_once(
    replicated: Platform,
) -> None:
    sites = single_location_rows()[:ORDERS]
    sessions = await asyncio.gather(*(sign_in(replicated, s.email, s.ods_code) for s in sites))
    placed = await asyncio.gather(
        *(
            place_order(
                replicated,
                sess["access_token"],
                [(site.location_id, 3)],
                site.location_id,
                instance=i % 2,
            )
            for i, (site, sess) in enumerate(zip(sites, sessions, strict=True))
        )
    )
    order_ids = {p["order_id"] for p in placed}

    async def all_dispatched() -> bool:
        async with replicated.service("dispatch").db.transaction() as s:
            n = await s.scalar(text("SELECT count(*) FROM shipments"))
        return n == ORDERS

    await eventually(all_dispatched, timeout=40)
    await settled(replicated)  # any duplicate publish or redelivery has been handled by now

    async with replicated.service("dispatch").db.transaction() as s:
        per_kind = dict(
            (
                await s.execute(
                    text(
                        "SELECT kind, count(*) FROM stock_ledger"
                        " WHERE order_id IS NOT NULL GROUP BY kind"
                    )
                )
            ).all()
        )
        per_order = (
            await s.execute(text("SELECT count(DISTINCT order_id), count(*) FROM shipments"))
        ).one()
    assert per_kind == {"reservation": ORDERS, "allocation": ORDERS}
    assert tuple(per_order) == (ORDERS, ORDERS)

    handoffs = [json.loads(m.body) for m in await replicated.drain("courier.courier.handoff")]
    references = [h["payload"]["shipment_reference"] for h in handoffs]
    assert len(set(references)) == ORDERS

    async with replicated.service("verification").db.transaction() as s:
        decisions = await s.scalar(
            text("SELECT count(*) FROM audit_trail WHERE action = 'verified'")
        )
    assert decisions == ORDERS

    async def counted() -> bool:
        async with replicated.service("reporting").db.transaction() as s:
            figures = dict(
                (
                    await s.execute(
                        text("SELECT metric, sum(value) FROM daily_figures GROUP BY metric")
                    )
                ).all()
            )
        return figures.get("orders_dispatched") == ORDERS and figures.get("orders_placed") == ORDERS

    await eventually(counted)
    assert len(order_ids) == ORDERS
