"""Minimisation (privacy policy: recipients, purposes; ASVS 7.1.1), on real RabbitMQ and
PostgreSQL: the courier gets name, address and parcel contents only; DHSC gets anonymised
figures only; the logs the services really write and the metrics they really export carry
ids, never personal data."""

import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from shared.store.retention import forget_old_inbox_rows
from tests.support.journeys import order_status, place_order, sign_in, single_location_rows
from tests.support.keys import bearer, mint
from tests.support.platform import SERVICES, Platform, eventually, settled
from tests.support.privacy import courier_reports

pytestmark = pytest.mark.integration

CONTACT = "Jordan Featherstonehaugh"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """The JSON lines every service writes, as they write them (same formatter, INFO)."""
    root = logging.getLogger()
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(root.handlers[0].formatter)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield written
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_the_courier_dhsc_logs_and_metrics_get_no_more_than_they_should(
    platform: Platform, log_output: io.StringIO
) -> None:
    site = single_location_rows()[8]
    session = await sign_in(platform, site.email, site.ods_code)
    token = session["access_token"]
    placed = await place_order(
        platform, token, [(site.location_id, 6)], site.location_id, contact=CONTACT
    )

    async def dispatched() -> dict[str, Any] | None:
        order = await order_status(platform, token, placed["order_id"])
        return order if order["status"] == "dispatched" else None

    shipment = (await eventually(dispatched))["history"][-1]["detail"]
    await courier_reports(platform, shipment, "delivered")
    async with platform.client("identity") as identity:
        asked = await identity.post("/api/account/subject-access", headers=bearer(token))
        assert asked.status_code == 202

    # The courier's message: exactly name, address and what to pack, and nothing that
    # identifies the account, the order or how to reach the person.
    handoffs = [json.loads(m.body) for m in await platform.drain("courier.courier.handoff")]
    mine = [h["payload"] for h in handoffs if h["payload"]["shipment_reference"] == shipment]
    assert len(mine) == 1
    handoff = mine[0]
    assert set(handoff) == {
        "shipment_reference",
        "recipient_name",
        "address",
        "postcode",
        "parcels",
    }
    assert handoff["recipient_name"] == CONTACT
    assert all(
        set(p) == {"number", "badges", "wellbeing_leaflets", "winter_leaflets"}
        for p in handoff["parcels"]
    )
    carried = json.dumps(handoff).lower()
    for secret in (site.email, session["account_id"], placed["order_id"], placed["reference"]):
        assert secret.lower() not in carried

    # Identifying values that must not reach DHSC, logs or metrics.
    personal = [site.email, CONTACT, site.postcode, site.ods_code]
    identifiers = [session["account_id"], placed["reference"]]

    async def counted() -> bool:
        async with platform.client("reporting") as reporting:
            summary = await reporting.get("/api/mi/summary", headers=bearer(mint("dhsc_analyst")))
        return "orders_delivered" in summary.json()

    await eventually(counted)
    analyst = bearer(mint("dhsc_analyst"))
    async with platform.client("reporting") as reporting:
        for path in (
            "/api/mi/summary",
            "/api/mi/figures.csv",
            "/api/mi/daily.csv",
            "/api/mi/breakdowns/region.csv",
            "/api/mi/breakdowns/local_authority.csv",
        ):
            answer = await reporting.get(path, headers=analyst)
            assert answer.status_code == 200, (path, answer.text)
            for value in personal + identifiers:
                assert value.lower() not in answer.text.lower(), f"{path} shows {value}"

    for name in SERVICES:
        async with platform.client(name) as client:
            exported = (await client.get("/metrics")).text.lower()
        for value in personal + identifiers:
            assert value.lower() not in exported, f"{name}'s metrics carry {value}"

    logged = log_output.getvalue()
    assert '"order dispatched"' in logged and placed["order_id"] in logged  # ids are there
    for value in personal:
        assert value.lower() not in logged.lower(), f"the logs carry {value}"


async def test_inbox_rows_go_after_their_retention_and_recent_ones_stay(
    platform: Platform,
) -> None:
    service = platform.service("verification")
    old, recent = uuid.uuid4(), uuid.uuid4()
    async with service.db.transaction() as session:
        await session.execute(
            service.inbox_table.insert(),
            [
                {"consumer": "retention-test", "event_id": old, "received_at": _days_ago(8)},
                {"consumer": "retention-test", "event_id": recent, "received_at": _days_ago(6)},
            ],
        )
    keep = timedelta(days=service.settings.inbox_retention_days)
    assert await forget_old_inbox_rows(service.db, service.inbox_table, keep) >= 1
    async with service.db.transaction() as session:
        left = await session.execute(
            text("SELECT event_id FROM inbox WHERE consumer = 'retention-test'")
        )
        assert list(left.scalars()) == [recent]


def _days_ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def _reporting_consumed() -> dict[str, float]:
    from shared.metrics import MESSAGES_CONSUMED

    counts: dict[str, float] = {}
    for metric in MESSAGES_CONSUMED.collect():
        for sample in metric.samples:
            labels = sample.labels
            if sample.name.endswith("_total") and labels.get("service") == "reporting":
                counts[labels["event_type"]] = counts.get(labels["event_type"], 0) + sample.value
    return counts


async def test_reporting_receives_one_order_in_few_deliveries_and_nothing_personal(
    platform: Platform,
) -> None:
    """ADR 0026: one provider's first sign-in, order, dispatch and delivery reach reporting as
    five or six deliveries (seven before, when it took every domain event: AccountRegistered,
    LocationsAuthorised and OrderPlaced, with names, addresses and emails in them), and none
    of them is an event that declares personal data."""
    from shared.events import payload_types

    await settled(platform)  # reporting may trail (its worker waits to gather deliveries)
    before = _reporting_consumed()
    site = single_location_rows()[9]
    session = await sign_in(platform, site.email, site.ods_code)
    token = session["access_token"]
    placed = await place_order(
        platform, token, [(site.location_id, 4)], site.location_id, contact=CONTACT
    )

    async def dispatched() -> dict[str, Any] | None:
        order = await order_status(platform, token, placed["order_id"])
        return order if order["status"] == "dispatched" else None

    shipment = (await eventually(dispatched))["history"][-1]["detail"]
    await courier_reports(platform, shipment, "delivered")

    # The reservation reached reporting once: as a StockReserved when the allocator reserved
    # before the verification arrived, or inside the dispatch when verified first (ADR 0054).
    reserved_alone, reserved_with_dispatch = await _reservation_told(platform, placed["order_id"])
    assert (reserved_alone, bool(reserved_with_dispatch)) in ((1, False), (0, True))
    expected = {
        "AccountRegisteredForReporting": 1,
        "OrderPlacedForReporting": 1,
        "OrderVerified": 1,
        "OrderDispatched": 1,
        "OrderDelivered": 1,
        **({"StockReserved": 1} if reserved_alone else {}),
    }

    async def all_in() -> dict[str, float] | None:
        after = _reporting_consumed()
        delta = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
        return delta if delta == expected else None

    delivered = await eventually(all_in)
    assert sum(delivered.values()) in (5, 6)
    types = payload_types()
    assert not [name for name in delivered if types[name].PERSONAL_FIELDS]


async def _reservation_told(platform: Platform, order_id: str) -> tuple[int, int]:
    """How dispatch told of the order's reservation: its StockReserved events, and the badges
    its OrderDispatched says it reserved with the dispatch."""
    async with platform.service("dispatch").db.transaction() as s:
        rows = (
            await s.execute(
                text("SELECT event_type, body FROM outbox WHERE body LIKE :o"),
                {"o": f"%{order_id}%"},
            )
        ).all()
    alone = sum(1 for r in rows if r.event_type == "StockReserved")
    [dispatched] = [json.loads(r.body) for r in rows if r.event_type == "OrderDispatched"]
    return alone, int(dispatched["payload"]["reserved_with_dispatch"])


async def test_reportings_retired_queues_are_deleted_at_start(platform: Platform) -> None:
    """A queue of a subscription reporting dropped (ADR 0026) would go on filling with
    personal data: declaring the topology deletes it, and deleting one not there is no error."""
    import aio_pika

    from shared.messaging.topology import RETIRED, declare_topology

    retired = next(s for s in RETIRED if s.event.TYPE == "OrderPlaced")
    connection = await aio_pika.connect(platform.amqp_url)
    try:
        channel = await connection.channel()
        await channel.declare_queue(retired.queue_name, durable=True)
        await declare_topology(platform.service("reporting").broker)
        await declare_topology(platform.service("reporting").broker)  # again: nothing there
        probe = await connection.channel()
        with pytest.raises(aio_pika.exceptions.ChannelClosed):
            await probe.declare_queue(retired.queue_name, passive=True)
    finally:
        await connection.close()
