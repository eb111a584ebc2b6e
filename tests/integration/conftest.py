"""Integration fixtures: a whole platform on real RabbitMQ and PostgreSQL per test module."""

from collections.abc import AsyncIterator

import pytest

from tests.support.mail import SmtpSink
from tests.support.platform import Platform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def platform() -> AsyncIterator[Platform]:
    async with Platform() as p:
        await p.start_all()
        await p.load_register()
        await p.receive_stock(100_000)
        yield p


@pytest.fixture(scope="module")
async def mail() -> AsyncIterator[SmtpSink]:
    """A real SMTP server the module's services send to (tests read what arrived)."""
    with SmtpSink() as sink:
        yield sink
