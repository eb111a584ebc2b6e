"""What every service's HTTP layer and telemetry promise, checked on a real app instance."""

from __future__ import annotations

import json
import logging
import uuid

import httpx
import pytest
import structlog

from services.orders.app import create_app
from shared.events import CourierHandoff, OrderDispatched, payload_types
from shared.logging import configure_logging, log_context
from shared.metrics import HTTP_REQUESTS, REGISTRY, Labelled


@pytest.fixture
def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app())  # never started: no broker, no database
    return httpx.AsyncClient(transport=transport, base_url="http://orders.test")


async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_a_caller_correlation_id_is_echoed_and_a_hostile_one_replaced(
    client: httpx.AsyncClient,
) -> None:
    echoed = await client.get("/healthz", headers={"X-Correlation-ID": "abc-123"})
    hostile = await client.get("/healthz", headers={"X-Correlation-ID": 'x"; drop'})
    assert echoed.headers["x-correlation-id"] == "abc-123"
    assert uuid.UUID(hostile.headers["x-correlation-id"])


async def test_metrics_label_requests_by_route_template_never_by_raw_path(
    client: httpx.AsyncClient,
) -> None:
    order_id = uuid.uuid4()
    response = await client.get(f"/api/orders/{order_id}")
    assert response.status_code == 401
    labels = [s.labels for m in HTTP_REQUESTS.collect() for s in m.samples]
    assert {
        "service": "orders",
        "method": "GET",
        "route": "/api/orders/{order_id}",
        "status": "401",
    } in labels
    assert not any(str(order_id) in str(label) for label in labels)


async def test_a_service_that_has_not_started_is_not_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 503 and response.json()["status"] == "not ready"


def test_personal_data_is_redacted_from_logs(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test", "INFO")
    structlog.stdlib.get_logger("t").info(
        "signed in", email="a@b.org", postcode="LS1 4AP", order_id="o-1"
    )
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["email"] == line["postcode"] == "[redacted]"
    assert line["order_id"] == "o-1"
    configure_logging("tests", "WARNING")
    logging.getLogger().setLevel(logging.WARNING)


PERSONAL_NAMES = ("email", "phone", "name", "address", "postcode", "delivery", "data")


@pytest.mark.parametrize("event", list(payload_types().values()), ids=lambda e: e.TYPE)
def test_every_field_that_can_hold_personal_data_is_declared(event: type) -> None:
    suspicious = {
        field
        for field in event.model_fields
        if any(word in field for word in PERSONAL_NAMES) and field != "organisation_name"
    }
    assert suspicious <= event.PERSONAL_FIELDS


def test_dispatch_events_for_everyone_carry_no_personal_data() -> None:
    assert OrderDispatched.PERSONAL_FIELDS == frozenset()


def test_the_courier_receives_exactly_the_allow_listed_fields() -> None:
    assert set(CourierHandoff.model_fields) == {
        "shipment_reference",
        "recipient_name",
        "address",
        "postcode",
        "parcels",
    }


def test_a_labelled_child_is_looked_up_once_and_exported_only_once_used() -> None:
    """Per-message metrics keep their children (ADR 0053) without exporting a series early."""
    children = Labelled(HTTP_REQUESTS, "labelled-test", "GET")
    sample = {"service": "labelled-test", "method": "GET", "route": "/x", "status": "200"}
    assert REGISTRY.get_sample_value("care_http_requests_total", sample) is None
    children("/x", "200").inc()
    assert children("/x", "200") is HTTP_REQUESTS.labels("labelled-test", "GET", "/x", "200")
    assert REGISTRY.get_sample_value("care_http_requests_total", sample) == 1.0


def test_a_log_context_restores_what_was_bound_around_it() -> None:
    """Bound and unbound by token (ADR 0053): the outer values come back, the rest go."""
    before = structlog.contextvars.get_contextvars()
    with log_context(correlation_id="outer", order_id="o-1", skipped=None):
        with log_context(correlation_id="inner", event_id=uuid.UUID(int=1)):
            inner = structlog.contextvars.get_contextvars()
        after_inner = structlog.contextvars.get_contextvars()
    assert inner == {
        **before,
        "correlation_id": "inner",
        "order_id": "o-1",
        "event_id": str(uuid.UUID(int=1)),
    }
    assert after_inner == {**before, "correlation_id": "outer", "order_id": "o-1"}
    assert structlog.contextvars.get_contextvars() == before
