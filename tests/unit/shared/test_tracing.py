"""Tracing's promises without a broker: traceparent in and out, ids without an exporter,
the per-message log line equal to the standard one, and the compose collector's wiring."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import yaml
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.orders.app import create_app
from shared import tracing
from shared.logging import get_logger, info_line, log_context
from shared.messaging.broker import publish_options
from shared.store import prepared

ROOT = Path(__file__).resolve().parents[3]
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_traceparent_is_parsed_and_a_bad_one_ignored() -> None:
    context = tracing.context_from_traceparent(PARENT.encode())
    assert context is not None
    with tracing.span("x", parent=context) as span:
        assert tracing.trace_id_of(span) == "0af7651916cd43dd8448eb211c80319c"
    for bad in (None, "", "nonsense", "00-" + "0" * 32 + "-b7ad6b7169203331-01", PARENT[:-3], 7):
        assert tracing.context_from_traceparent(bad) is None


def test_without_an_exporter_ids_propagate_and_nothing_is_recorded() -> None:
    assert not tracing.recording()
    assert tracing.current_traceparent() is None
    with tracing.span("request", kind=tracing.SpanKind.SERVER) as root:
        assert not root.is_recording()
        trace_id = tracing.trace_id_of(root)
        assert len(trace_id) == 32 and int(trace_id, 16)
        with tracing.span("handle"), tracing.child_span("db.transaction"):
            assert tracing.current_trace_id() == trace_id
            header = tracing.current_traceparent()
        assert header is not None and header.startswith(f"00-{trace_id}-")
    with tracing.span("next") as other:  # a new trace each time outside one
        assert tracing.trace_id_of(other) != trace_id
    with tracing.span("consume", parent=tracing.context_from_traceparent(PARENT)):
        assert tracing.current_traceparent() == PARENT  # passed on as received


def test_recorded_spans_form_one_trace_through_a_header(spans: InMemorySpanExporter) -> None:
    with tracing.span("publish", kind=tracing.SpanKind.PRODUCER) as producer:
        header = tracing.traceparent_of(producer.get_span_context())
    with (
        tracing.span("consume", parent=tracing.context_from_traceparent(header)),
        tracing.child_span("db.transaction"),
    ):
        pass
    done = {s.name: s for s in spans.get_finished_spans()}
    assert {s.context.trace_id for s in done.values()} == {producer.get_span_context().trace_id}
    assert done["consume"].parent.span_id == done["publish"].context.span_id
    assert done["db.transaction"].parent.span_id == done["consume"].context.span_id


def test_the_outbox_rows_traceparent_goes_in_the_message_headers() -> None:
    row = SimpleNamespace(
        event_id="e", correlation_id="c", event_type="OrderPlaced", traceparent=PARENT
    )
    assert publish_options(row)["headers"] == {"event-type": "OrderPlaced", "traceparent": PARENT}
    row.traceparent = None
    assert publish_options(row)["headers"] == {"event-type": "OrderPlaced"}


async def test_the_per_message_line_is_the_standard_line(logs: io.StringIO) -> None:
    fields = {"outcome": "ok", "ms": 1.5, "email": "someone@example.org"}
    with log_context(trace_id="t" * 32, correlation_id="c-1", order_id="o-1"):
        get_logger("shared.messaging.consumer").info("event handled", **fields)
        info_line("shared.messaging.consumer", "event handled", **fields)
        info_line("shared.messaging.consumer", "event handled", **fields)
    await asyncio.sleep(0)  # the lines of one loop turn are written together
    standard, fast, again = (json.loads(line) for line in logs.getvalue().splitlines())
    del standard["timestamp"], fast["timestamp"], again["timestamp"]
    assert standard == fast == again
    assert fast["email"] == "[redacted]" and fast["trace_id"] == "t" * 32


async def test_a_request_continues_the_callers_trace_and_logs_a_change(
    logs: io.StringIO,
) -> None:
    transport = httpx.ASGITransport(app=create_app())  # never started: refuses the order
    async with httpx.AsyncClient(transport=transport, base_url="http://orders.test") as client:
        await client.post("/api/orders", json={}, headers={"traceparent": PARENT})
        await client.get("/healthz", headers={"traceparent": PARENT})
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    changes = [line for line in lines if line["event"] == "request handled"]
    assert len(changes) == 1, lines
    assert changes[0]["trace_id"] == PARENT[3:35] and changes[0]["route"] == "/api/orders"
    assert changes[0]["service"] == "orders" and changes[0]["level"] == "info"


def test_compose_sends_the_services_spans_through_a_collector_to_jaeger() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("identity", "orders", "verification", "dispatch", "reporting"):
        endpoint = services[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert "http://otel-collector:4318" in endpoint
    collector = yaml.safe_load((ROOT / "deploy/otel/collector.yaml").read_text())
    pipeline = collector["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"] and "batch" in pipeline["processors"]
    exporter = collector["exporters"][pipeline["exporters"][0]]
    assert exporter["endpoint"] == "jaeger:4317"
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def test_configure_tracing_exports_only_with_an_endpoint() -> None:
    assert tracing.configure_tracing("orders", environ={}) is False
    assert not tracing.recording()
    try:
        assert tracing.configure_tracing(
            "orders", environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
        )
        assert tracing.recording()
    finally:
        tracing.reset()


def test_a_statement_run_alone_is_a_span_of_the_request(
    spans: InMemorySpanExporter, monkeypatch: Any
) -> None:
    """Sessions, the queue page's check and an order's read left their transactions behind
    (one statement each): they stay visible in the request's trace."""

    async def sent(engine: Any, sql: str, *args: Any) -> list[Any]:
        return []

    monkeypatch.setattr(prepared, "_fetch_alone", sent)
    with tracing.span("request", kind=tracing.SpanKind.SERVER):
        engine: Any = SimpleNamespace()
        asyncio.run(prepared.fetch_alone(engine, "SELECT 1"))
    done = {s.name: s for s in spans.get_finished_spans()}
    statement, request = done["db.statement"], done["request"]
    assert statement.parent is not None and request.context is not None
    assert statement.parent.span_id == request.context.span_id
    assert dict(statement.attributes or {})["db.system.name"] == "postgresql"
