"""The suite runs on its own RabbitMQ node and PostgreSQL cluster, never on the machine's.

Asked of the running services themselves: the broker they are connected to names itself as
the session's node, and their database server reports the session cluster's port and data
folder. The machine's ports (5672, 5432) appear nowhere.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from tests.support import infra
from tests.support.platform import SERVICES, Platform

pytestmark = pytest.mark.integration


async def test_every_service_talks_to_the_sessions_own_broker(platform: Platform) -> None:
    session = infra.current()
    assert urlsplit(platform.amqp_url).port == session.rabbit.port != 5672
    node_prefix = session.rabbit.node.split("@")[0] + "@"
    for name in SERVICES:
        service = platform.service(name)
        connection = service.broker._connection  # the live connection the service consumes on
        assert connection is not None and connection.transport is not None
        properties = connection.transport.connection.server_properties
        assert str(properties["cluster_name"]).startswith(node_prefix), (name, properties)
        assert urlsplit(service.settings.amqp_url).port == session.rabbit.port


async def test_every_service_talks_to_the_sessions_own_database(platform: Platform) -> None:
    session = infra.current()
    assert session.postgres.port != 5432
    for name in SERVICES:
        async with platform.service(name).db.transaction() as db:
            port = (await db.execute(text("SELECT inet_server_port()"))).scalar_one()
            folder = (await db.execute(text("SHOW data_directory"))).scalar_one()
        assert port == session.postgres.port, name
        assert folder.startswith(str(session.root)), (name, folder)


async def test_the_session_infra_lives_in_a_temporary_folder_of_its_own() -> None:
    session = infra.current()
    assert session.root.name.startswith("care-tests-")
    assert (session.rabbit.root / "rabbit.pid").exists()
    assert infra.PG == f"postgresql+asyncpg://postgres@127.0.0.1:{session.postgres.port}"
    assert infra.AMQP == f"amqp://guest:guest@127.0.0.1:{session.rabbit.port}"
