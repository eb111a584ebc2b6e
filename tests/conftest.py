"""Test-wide setup: structured logging once, the test environment's keys and secrets, and the
session's own RabbitMQ node and PostgreSQL cluster (tests/support/infra.py).

The node and cluster start in the background as soon as collection shows that a test will
need them (an integration or e2e test), so their boot overlaps the tests that come first, and
they stop when the session finishes, whether it passed, failed or was interrupted.
"""

import io
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.logging import configure_logging
from tests.support import captured, infra
from tests.support import platform as _platform  # noqa: F401 - sets the test environment

#: Tests with these marks run on a broker and a database.
NEEDS_INFRA = ("integration", "e2e")


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(item.get_closest_marker(mark) for item in session.items for mark in NEEDS_INFRA):
        infra.start_in_background()


@pytest.hookimpl(trylast=True)  # after pytest tears down what fixtures still hold
def pytest_sessionfinish(session: pytest.Session) -> None:
    infra.stop()


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure_logging("tests", "WARNING")


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Every line the services' logging configuration writes, as it would reach stdout."""
    yield from captured.capture_logs()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span the code under test records."""
    yield from captured.capture_spans()
