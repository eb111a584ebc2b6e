"""What the services write while a test runs: their log lines as they would reach stdout, and
the spans they record. The fixtures are in tests/conftest.py; ``lines`` reads the log back."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import tracing
from shared.logging import configure_logging


def capture_logs() -> Iterator[io.StringIO]:
    """Every line the services' logging configuration writes at INFO, into a buffer."""
    configure_logging("tests", "INFO")
    captured = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(captured)
    yield captured
    configure_logging("tests", "WARNING")


def capture_spans() -> Iterator[InMemorySpanExporter]:
    """Every span recorded, kept in memory (tracing is on for the test only)."""
    exporter = InMemorySpanExporter()
    tracing.use_processor(SimpleSpanProcessor(exporter), "tests")
    yield exporter
    tracing.reset()


def lines(logs: io.StringIO) -> list[dict[str, Any]]:
    """The JSON log lines written so far."""
    return [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
