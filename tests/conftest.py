"""Test-wide setup: structured logging once, and the test environment's keys and secrets."""

import pytest

from shared.logging import configure_logging
from tests.support import platform as _platform  # noqa: F401 - sets the test environment


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure_logging("tests", "WARNING")
