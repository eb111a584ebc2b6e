"""All five services in the test's own event loop, on real RabbitMQ and PostgreSQL.

The broker and database are the test session's own (tests/support/infra.py), never the
machine's. Each :class:`Platform` gets a fresh RabbitMQ virtual host and fresh databases, so
what one test module does (stock levels, queue contents) cannot leak into another. Services can run
as several instances at once (competing consumers, several outbox relays), exactly as
replicas would.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aio_pika
import httpx
from fastapi import FastAPI
from sqlalchemy import text

from scripts.run_platform import SERVICES as PORTS
from shared.events import EventPayload, wrap
from shared.runtime import Service
from shared.store.db import Database
from tests.support import infra
from tests.support.keys import keypair
from tests.support.polling import eventually

ROOT = Path(__file__).resolve().parents[2]
REGISTER_SAMPLE = ROOT / "data" / "cqc-register-sample.csv"
COURIER_SECRET = "test-courier-secret"
SERVICES = tuple(PORTS)

os.environ.setdefault("CARE_DISPATCH_COURIER_HMAC_SECRET", COURIER_SECRET)
os.environ.setdefault("CARE_TOKEN_PUBLIC_KEY", keypair().public_pem)


def _factory(name: str) -> tuple[Callable[..., FastAPI], type[Any]]:
    module = __import__(f"services.{name}.app", fromlist=["create_app"])
    settings_module = __import__(f"services.{name}.settings", fromlist=["x"])
    settings_cls = next(
        getattr(settings_module, attr)
        for attr in dir(settings_module)
        if attr.endswith("Settings")
        and getattr(settings_module, attr).__module__ == settings_module.__name__
    )
    return module.create_app, settings_cls


class Platform:
    def __init__(self) -> None:
        self.suffix = infra.unique_suffix()
        self.vhost = ""
        self.amqp_url = ""
        self.apps: dict[str, list[FastAPI]] = {name: [] for name in SERVICES}
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None

    def database_url(self, name: str) -> str:
        return f"{infra.PG}/care_{name}_{self.suffix}"

    async def __aenter__(self) -> Platform:
        self.vhost, self.amqp_url = await infra.claim_vhost()
        os.environ["CARE_AMQP_URL"] = self.amqp_url
        os.environ["CARE_TOKEN_PUBLIC_KEY"] = keypair().public_pem
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for instances in self.apps.values():
            for app in instances:
                service: Service = app.state.service
                if service.started:
                    await service.stop()
        if self._connection:
            await self._connection.close()
        # The vhost stays (unused) until the session's node goes: deleting vhosts under load
        # is what once wedged a broker.
        await infra.drop_databases([f"care_{n}_{self.suffix}" for n in SERVICES])

    # --- services ------------------------------------------------------------------------

    def build(self, name: str, **overrides: Any) -> FastAPI:
        create_app, settings_cls = _factory(name)
        settings = settings_cls(
            database_url=self.database_url(name),
            outbox_poll_seconds=0.1,
            **({"token_private_key": keypair().private_pem} if name == "identity" else {}),
            **overrides,
        )
        app = create_app(settings)
        self.apps[name].append(app)
        return app

    async def start(self, name: str, **overrides: Any) -> Service:
        service: Service = self.build(name, **overrides).state.service
        await service.start()
        return service

    async def start_all(self) -> None:
        for name in SERVICES:
            await self.start(name)

    def service(self, name: str, instance: int = 0) -> Service:
        return self.apps[name][instance].state.service  # type: ignore[no-any-return]

    def client(self, name: str, instance: int = 0) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.apps[name][instance])
        return httpx.AsyncClient(transport=transport, base_url=f"http://{name}.test")

    async def load_register(self, path: Path = REGISTER_SAMPLE) -> None:
        from services.identity.domain.register import parse_register
        from services.identity.domain.register_files import reader_for
        from services.identity.store.register import replace_register

        extract = parse_register(reader_for(path.name)(path.read_bytes()))
        async with self.service("identity").db.transaction() as session:
            await replace_register(session, extract.locations)

    async def receive_stock(self, quantity: int) -> None:
        from services.dispatch.usecases.stock import Stock

        service = self.service("dispatch")
        async with service.db.transaction() as session:
            await Stock(service).receive(session, quantity, "test-stock")

    # --- raw broker access ---------------------------------------------------------------

    async def publish(
        self, payload: EventPayload | bytes, routing_key: str | None = None, **props: Any
    ) -> Any:
        """Publish as a producer would (persistent, confirmed); returns the envelope."""
        assert self._connection is not None
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        try:
            exchange = await channel.get_exchange("care.events")
            if isinstance(payload, bytes):
                body, envelope, key = payload, None, routing_key or ""
            else:
                envelope = props.pop("envelope", None) or wrap(payload, "test")
                body, key = envelope.model_dump_json().encode(), payload.ROUTING_KEY
            await exchange.publish(
                aio_pika.Message(
                    body,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    content_type="application/json",
                    **props,
                ),
                routing_key=key,
                mandatory=True,
            )
            return envelope
        finally:
            await channel.close()

    async def drain(
        self, queue: str, timeout: float = 1.0
    ) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Take every message now in ``queue`` (acking them)."""
        assert self._connection is not None
        channel = await self._connection.channel()
        taken = []
        try:
            q = await channel.declare_queue(queue, passive=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                message = await q.get(fail=False, no_ack=True)
                if message is None:
                    await asyncio.sleep(0.05)
                    continue
                taken.append(message)
        finally:
            await channel.close()
        return taken


async def settled(platform: Platform, timeout: float = 30.0) -> None:
    """Wait until nothing is in flight: every consumer queue empty, twice in a row.

    Dead-letter queues and the courier's queue keep what they hold by design. Use this
    before asserting that something did *not* happen.
    """

    async def quiet() -> bool:
        backlog = await infra.queue_backlogs(platform.vhost)
        return not any(
            count
            for name, count in backlog.items()
            if not name.endswith(".dlq") and not name.startswith("courier.")
        )

    await eventually(quiet, timeout)
    await eventually(quiet, timeout)


def courier_headers(
    body: bytes, secret: str = COURIER_SECRET, at: int | None = None
) -> dict[str, str]:
    timestamp = str(at if at is not None else int(time.time()))
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Courier-Timestamp": timestamp,
        "X-Courier-Signature": f"sha256={digest}",
        "Content-Type": "application/json",
    }


async def blocked_on_a_lock(db: Database) -> bool:
    """True once some transaction in ``db``'s database waits on a lock: the barrier a test
    uses to hold one transaction at a known point while another commits."""
    async with db.transaction() as session:
        blocked = await session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return bool(blocked.scalar_one())
