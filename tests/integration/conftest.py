"""Integration fixtures: a whole platform on real RabbitMQ and PostgreSQL per test module."""

from collections.abc import AsyncIterator

import pytest

from tests.support.platform import Platform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def platform() -> AsyncIterator[Platform]:
    async with Platform() as p:
        await p.start_all()
        await p.load_register()
        await p.receive_stock(100_000)
        yield p
