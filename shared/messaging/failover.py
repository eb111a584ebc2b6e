"""Several broker addresses: connect to the first that answers, and after losing a node
reconnect to the next (a three-node RabbitMQ cluster with quorum queues, issue 18 section 5).

``CARE_AMQP_URL`` may hold several URLs separated by commas, one per cluster node (or a
single load-balanced address, as before). aio-pika's robust connection reconnects to the one
URL it was given; :func:`failover_connection_class` makes one that walks the list instead:

- each connection attempt tries every address once, starting with the current one, so a
  service starts while any node is up and the first (dead) node costs one refused connect;
- when an open connection is lost, the next attempt starts at the *next* address: a killed
  node's clients move to a live node at once instead of waiting for it to come back.

Channels, consumers and declarations are restored by aio-pika as after any reconnect; with
quorum queues every node serves every queue, so any node will do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aio_pika import RobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from yarl import URL

from shared.logging import get_logger

log = get_logger(__name__)


def split_urls(value: str) -> list[str]:
    """The addresses in a ``CARE_AMQP_URL`` value (comma or whitespace separated)."""
    return [part for part in value.replace(",", " ").split() if part]


class FailoverConnection(RobustConnection):
    """A robust connection over several broker addresses (see the module's docstring)."""

    URLS: tuple[URL, ...] = ()
    FAILOVER_INTERVAL = 1.0

    def __init__(self, url: URL, loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any):
        super().__init__(url=url, loop=loop, **kwargs)
        self._index = 0
        # aio-pika (as faststream sets it up) waits 5 s between attempts; with another node
        # to go to, that wait is most of the pause a lost node causes (measured on three
        # nodes: 4.8 s to publish again at 5 s, 0.9 s at 1 s).
        self.reconnect_interval = self.FAILOVER_INTERVAL

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        # Lost an open connection: its node is the likeliest to be down; start at the next.
        if self.connected.is_set() and len(self.URLS) > 1:
            self._index = (self._index + 1) % len(self.URLS)
        await super()._on_connection_close(closing)

    # aio-pika's RobustConnection makes each attempt through its private (name-mangled)
    # ``__connect_transport``; this is the one place an attempt can choose its address.
    async def _RobustConnection__connect_transport(self) -> None:
        urls = self.URLS or (self.url,)
        failure: BaseException | None = None
        for step in range(len(urls)):
            index = (self._index + step) % len(urls)
            self.url = urls[index]
            try:
                await super()._RobustConnection__connect_transport()  # type: ignore[misc]
            except CONNECTION_EXCEPTIONS as exc:
                failure = exc
                if len(urls) > 1:
                    log.warning(
                        "broker address did not answer, trying the next",
                        broker=f"{self.url.host}:{self.url.port}",
                        error=type(exc).__name__,
                    )
                continue
            if index != self._index or failure is not None:
                log.info("connected to broker", broker=f"{self.url.host}:{self.url.port}")
            self._index = index
            return
        assert failure is not None
        raise failure


def failover_connection_class(urls: Sequence[str]) -> type[FailoverConnection]:
    """A :class:`FailoverConnection` over ``urls`` (aio-pika takes a class, not an instance)."""
    return type("FailoverConnection", (FailoverConnection,), {"URLS": tuple(URL(u) for u in urls)})
