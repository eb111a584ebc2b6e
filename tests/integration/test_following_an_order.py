"""One order can be followed: by its trace id through all five services' logs, and by its
spans as one trace (issue 18, section 3), on the real platform over real RabbitMQ and
PostgreSQL (tests/support/platform.py).

The visitor's journey is one trace, as the site's browser or the edge proxy would start it:
signing in (identity), then placing the order (orders); the order's events carry it on through
verification, dispatch and reporting, and back to orders. Spans are recorded in process
(``shared.tracing.use_processor`` with the SDK's in-memory exporter); in production the same
spans go to an OTLP collector (docs/operations.md, "Following an order").
"""

from __future__ import annotations

import io
import json
import secrets
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from shared.events import OrderPlaced
from tests.support.captured import lines
from tests.support.journeys import order_status, single_location_rows
from tests.support.keys import bearer
from tests.support.platform import Platform, eventually

pytestmark = pytest.mark.integration

SERVICES = {"identity", "orders", "verification", "dispatch", "reporting"}


async def test_an_orders_trace_id_is_in_all_five_services_logs_and_its_spans_are_one_trace(
    platform: Platform, logs: io.StringIO, spans: InMemorySpanExporter
) -> None:
    site = single_location_rows()[1]
    trace_id = secrets.token_hex(16)
    journey = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    async with platform.client("identity") as identity:
        response = await identity.post(
            "/api/sign-in",
            json={"email": site.email, "password": site.ods_code},
            headers=journey | {"X-Correlation-ID": "follow-me-1"},
        )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    async with platform.client("orders") as orders:
        response = await orders.post(
            "/api/orders",
            json={
                "lines": [{"location_id": site.location_id, "staff_count": 5}],
                "deliver_to_location_id": site.location_id,
                "contact_name": "Sam Carer",
            },
            headers=journey | bearer(token) | {"X-Correlation-ID": "follow-me-2"},
        )
    assert response.status_code == 201, response.text
    order_id = response.json()["order_id"]

    async def dispatched() -> bool | None:
        status = await order_status(platform, token, order_id)
        return True if status["status"] == "dispatched" else None

    await eventually(dispatched)

    async def reported() -> list[dict[str, Any]] | None:
        mine = [
            line
            for line in lines(logs)
            if line.get("trace_id") == trace_id and line.get("service") == "reporting"
        ]
        return mine or None

    await eventually(reported)

    traced = [line for line in lines(logs) if line.get("trace_id") == trace_id]
    assert {line["service"] for line in traced} == SERVICES, traced
    # The order's lines carry its id and correlation id (the sign-in is before the order).
    of_the_order = [line for line in traced if line.get("order_id") == order_id]
    assert {line["service"] for line in of_the_order} == SERVICES - {"identity"}
    assert {line["correlation_id"] for line in of_the_order} == {"follow-me-2"}
    # Every handled event is one info line; the request that placed the order is one.
    handled = [line for line in of_the_order if line["event"] == "event handled"]
    assert handled and all(line["level"] == "info" for line in handled)
    assert {line["event_type"] for line in handled} >= {OrderPlaced.TYPE, "OrderVerified"}
    placed = [line for line in of_the_order if line["event"] == "request handled"]
    assert [(p["service"], p["route"], p["status"]) for p in placed] == [
        ("orders", "/api/orders", 201)
    ]
    # Ids only: nothing personal in any of the order's lines.
    dumped = json.dumps(traced)
    assert not [p for p in ("Sam Carer", site.email, site.postcode) if p in dumped]

    # Spans: all in the one trace, each one's parent a span of it, or the visitor's own.
    # (Waits for the last consumer spans: each ends just after its handler's log line.)
    visitor = int(journey["traceparent"][36:52], 16)

    async def one_trace() -> list[Any] | None:
        recorded = [
            s for s in spans.get_finished_spans() if s.context.trace_id == int(trace_id, 16)
        ]
        ids = {s.context.span_id for s in recorded} | {visitor}
        if [s for s in recorded if s.parent and s.parent.span_id not in ids]:
            return None
        # Reporting's consumer span ends just after its log line, and it waits 0.1 s before
        # it begins: wait for every service's spans, not only for the trace to hang together.
        covered = {s.attributes.get("care.service") for s in recorded if s.attributes}
        return recorded if covered >= SERVICES else None

    recorded = await eventually(one_trace, timeout=10)
    assert all(s.parent is not None for s in recorded)  # no second root
    services = {s.attributes.get("care.service") for s in recorded if s.attributes} - {None}
    assert services >= SERVICES, services
    kinds = {s.kind.name for s in recorded}
    assert {"SERVER", "PRODUCER", "CONSUMER", "INTERNAL"} <= kinds
    names = {s.name for s in recorded}
    assert "POST /api/orders" in names and "db.transaction" in names
    assert "handle OrderPlaced" in names
    by_kind = {k: sum(s.kind.name == k for s in recorded) for k in sorted(kinds)}
    print(f"\none order's trace: {len(recorded)} spans {by_kind}, services {sorted(services)}")


async def test_an_invalid_message_is_parked_with_its_reason_logged(
    platform: Platform, logs: io.StringIO
) -> None:
    body = json.dumps({"type": OrderPlaced.TYPE, "payload": {"order_id": "not-an-id"}}).encode()
    await platform.publish(body, "order.placed", message_id="bad-1", correlation_id="bad-cid")

    async def parked() -> list[dict[str, Any]] | None:
        found = [line for line in lines(logs) if line.get("event") == "invalid message, parking it"]
        return found or None

    found = await eventually(parked)
    assert {line["message_id"] for line in found} == {"bad-1"}
    line = found[0]
    assert line["level"] == "warning" and line["reason"] == "invalid"
    assert line["correlation_id"] == "bad-cid" and len(line["trace_id"]) == 32
    assert "ValidationError" in line["error"] and "not-an-id" not in json.dumps(found)


async def test_orders_in_each_open_state_are_a_gauge(platform: Platform) -> None:
    """care_orders{state}: the "orders in each state now" panel (issue 18, section 4)."""
    from services.orders.store import state_gauge
    from shared.metrics import REGISTRY

    service = platform.service("orders")
    async with service.db.transaction() as session:
        rows = (
            await session.execute(text("SELECT status, count(*) FROM orders GROUP BY status"))
        ).all()
    expected = {str(s.value): 0 for s in state_gauge.OPEN_STATES}
    expected.update({status: n for status, n in rows if status in expected})
    counts = await state_gauge.refresh(service)
    assert counts == expected
    for state, count in counts.items():
        labels = {"service": service.name, "state": state}
        assert REGISTRY.get_sample_value("care_orders", labels) == count
