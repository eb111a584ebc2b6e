"""Several broker addresses (issue 18, section 5): a service connects to the first address
that answers and, after losing its node, to the next; one address behaves as before.

On the session's own RabbitMQ node, with a dead address (a loopback port nothing listens on)
in front of it. The three-node cluster under launch load, with a node killed and another
stopped, is bench/broker_cluster.py (figures in bench/README.md).
"""

from __future__ import annotations

import pytest

from shared.messaging.broker import make_broker
from shared.messaging.failover import FailoverConnection, split_urls
from shared.settings import ServiceSettings
from tests.support import infra
from tests.support.private_infra import free_port

pytestmark = pytest.mark.integration


def test_the_setting_takes_one_address_or_several() -> None:
    assert split_urls("amqp://a/") == ["amqp://a/"]
    assert split_urls(" amqp://a/, amqp://b/ ,amqp://c/") == ["amqp://a/", "amqp://b/", "amqp://c/"]


async def test_a_dead_first_address_is_passed_over_and_a_lost_node_moves_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _vhost, live = await infra.claim_vhost()
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    monkeypatch.setenv("CARE_AMQP_URL", f"{dead},{live}")
    broker = make_broker(ServiceSettings(service="failover"))
    try:
        await broker.connect()
        connection = broker._connection
        assert isinstance(connection, FailoverConnection)
        assert connection.url.port != int(dead.rsplit(":", 1)[1].strip("/"))
        assert connection.reconnect_interval == FailoverConnection.FAILOVER_INTERVAL
        assert await broker.ping(timeout=5)
    finally:
        await broker.stop()


async def test_one_address_keeps_aio_pikas_own_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    _vhost, live = await infra.claim_vhost()
    monkeypatch.setenv("CARE_AMQP_URL", live)
    broker = make_broker(ServiceSettings(service="single"))
    try:
        await broker.connect()
        assert not isinstance(broker._connection, FailoverConnection)
    finally:
        await broker.stop()
