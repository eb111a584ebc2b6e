"""The wiring every service shares, so a reader who knows one service knows all five.

A :class:`Service` owns the database, the broker, the outbox relay and the consumers, and
builds the FastAPI app whose lifespan starts and stops them in the safe order: migrate, declare
the whole topology, start consumers, start the relay, start attached components (such as the
email relay); on shutdown the reverse.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter, FastAPI, Response
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncSession

from shared import tracing
from shared.events import Envelope, EventPayload, payload_types
from shared.http import problems
from shared.http.auth import TokenVerifier
from shared.http.limits import RequestLimitsMiddleware
from shared.http.middleware import ObservabilityMiddleware
from shared.http.no_store import NoStoreMiddleware
from shared.logging import configure_logging, get_logger
from shared.messaging.broker import make_broker, publish_options
from shared.messaging.consumer import Consumers, Handler
from shared.messaging.group_commit import FirstLock
from shared.messaging.topology import EXCHANGES, declare_topology
from shared.metrics import REGISTRY
from shared.readiness import NotReadyLog
from shared.settings import ServiceSettings
from shared.store import inbox, outbox
from shared.store.db import Database
from shared.store.forget import forget_published_events
from shared.store.migrations import ensure_database, upgrade
from shared.store.retention import inbox_retention

log = get_logger(__name__)


def _freeze_what_startup_built() -> None:
    """Leave what startup built out of every later garbage collection, once per process.

    A full collection walks every object the collector tracks: the imported modules,
    FastAPI's, SQLAlchemy's and pydantic's structures, all built at startup and kept for the
    process's life. Every allocation per message brings the next one nearer (ADR 0053).
    Frozen objects are still freed when their last reference goes; only a reference cycle
    among them would never be found, and the collection just before leaves none that is
    garbage then.
    """
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()


class Component(Protocol):
    """Something that runs alongside a service, such as :class:`shared.email.EmailRelay`."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


C = TypeVar("C", bound=Component)


class Service:
    """One service's runtime: database, broker, outbox relay, consumers and HTTP app."""

    def __init__(
        self,
        settings: ServiceSettings,
        metadata: MetaData,
        migrations_dir: Path,
        *,
        emits: Sequence[type[EventPayload]] = (),
    ) -> None:
        self.settings = settings
        self.name = settings.service
        self.metadata = metadata
        self.migrations_dir = migrations_dir
        self.outbox_table: Table = outbox.outbox_table(metadata)
        self.inbox_table: Table = inbox.inbox_table(metadata)
        self.db = Database(settings.resolved_database_url(), pool_size=settings.db_pool_size)
        self.broker = make_broker(settings)
        self.consumers = Consumers(
            self.name,
            self.broker,
            self.db,
            self.inbox_table,
            settings.prefetch,
            concurrency=settings.consumer_concurrency or settings.db_pool_size,
            batch=settings.consumer_batch,
            linger=settings.consumer_linger_seconds,
        )
        self._publishers = {
            event.TYPE: self.broker.publisher(
                exchange=EXCHANGES[event.EXCHANGE],
                routing_key=event.ROUTING_KEY,
                persist=True,
                mandatory=True,
                schema=Envelope[event],  # type: ignore[valid-type]
                title=f"{event.ROUTING_KEY}:{self.name}",
                description=(event.__doc__ or event.TYPE).strip(),
            )
            for event in emits
        }
        self.relay = outbox.OutboxRelay(
            self.db,
            self.outbox_table,
            self._publish_row,
            service=self.name,
            batch=settings.outbox_batch,
            poll_seconds=settings.outbox_poll_seconds,
            sweep_after=settings.outbox_sweep_after_seconds,
            retention=timedelta(hours=settings.outbox_retention_hours),
        )
        self._verifier: TokenVerifier | None = None
        self._components: list[Component] = []
        self.started = False
        self.attach(
            inbox_retention(
                self.db, self.inbox_table, timedelta(days=settings.inbox_retention_days)
            )
        )

    # --- events ----------------------------------------------------------------------------

    def handles(self, event: type[EventPayload]) -> Callable[[Handler], Handler]:
        """Decorator for an event handler ``async def h(session, envelope)``."""
        return self.consumers.handles(event)

    def lock_first(self, lock: FirstLock) -> None:
        """Every consumer transaction takes ``lock`` before its inbox claim and before any
        handler runs (``GroupCommit.first_lock``), so handlers that share a transaction keep
        the service's lock order."""
        self.consumers.group.first_lock = lock

    async def emit(
        self, session: AsyncSession, payload: EventPayload, correlation_id: str
    ) -> Envelope[Any]:
        """Record an event in the outbox, in the caller's transaction. A transaction's events
        are written together in one statement as it commits (or by a statement that carries
        them, ``outbox.take_pending``), published in the order emitted (shared.store.outbox),
        so emitting several costs no more than emitting one."""
        if payload.TYPE not in self._publishers:
            raise ValueError(f"{self.name} does not declare that it emits {payload.TYPE}")
        return await outbox.add(session, self.outbox_table, payload, correlation_id)

    async def forget_published(self, session: AsyncSession, mentioning: Sequence[str]) -> int:
        """Delete the published outbox rows that mention any of ``mentioning`` (an erased
        account's id, its email, a parcel's reference), in the caller's transaction; returns
        how many.

        What this process sent and has not marked yet (the relay marks sent rows together,
        up to a quarter of a second later, ADR 0081) is marked first: such a row looked
        unsent to the delete, and kept its copy of the person's data for the outbox's
        retention (24 hours). A row another replica sent in that moment can still stay until
        then."""
        await self.relay.settle_now()
        return await forget_published_events(session, self.outbox_table, mentioning)

    def emitted_routing_keys(self) -> list[str]:
        """Routing keys of the events this service publishes (its AsyncAPI channels)."""
        return [payload_types()[t].ROUTING_KEY for t in self._publishers]

    async def _publish_row(self, row: Any) -> None:
        publisher = self._publishers[row.event_type]
        options = publish_options(row)
        if tracing.recording() and row.traceparent:  # a producer span only when recorded
            with tracing.span(
                f"{row.routing_key} publish",
                kind=tracing.SpanKind.PRODUCER,
                parent=tracing.context_from_traceparent(row.traceparent),
                attributes=_messaging_attributes(row, self.name),
            ) as span:
                options["headers"]["traceparent"] = tracing.traceparent_of(span.get_span_context())
                await publisher.publish(row.body.encode(), **options)
            return
        await publisher.publish(row.body.encode(), **options)

    # --- auth ------------------------------------------------------------------------------

    def verifier(self) -> TokenVerifier:
        if self._verifier is None:
            if not self.settings.token_public_key:
                raise RuntimeError("CARE_TOKEN_PUBLIC_KEY is not set")
            self._verifier = TokenVerifier(
                self.settings.token_public_key, self.settings.token_issuer
            )
        return self._verifier

    # --- lifecycle -------------------------------------------------------------------------

    def attach(self, component: C) -> C:
        """Run ``component`` with the service: started after the outbox relay, stopped first."""
        self._components.append(component)
        if self.started:
            component.start()
        return component

    async def start(self) -> None:
        tracing.configure_tracing(self.name)
        url = self.settings.resolved_database_url()
        if self.settings.migrate_on_start:
            await ensure_database(url)
            await upgrade(self.migrations_dir, url)
        await self.broker.connect()
        await declare_topology(self.broker)
        await self.broker.start()
        if self._publishers:  # a service that emits nothing has no outbox rows to poll for
            self.relay.start()
        for component in self._components:
            component.start()
        self.started = True
        _freeze_what_startup_built()
        log.info("service started", subscriptions=len(self.consumers.subscriptions))

    async def stop(self) -> None:
        self.started = False
        for component in reversed(self._components):
            try:
                await component.stop()
            except Exception as exc:  # still close the broker and the database
                log.warning("component did not stop cleanly", error=type(exc).__name__)
        await self.relay.stop()
        await self.broker.stop()
        await self.consumers.close()
        await self.db.dispose()
        tracing.shutdown()

    @cached_property
    def _not_ready_log(self) -> NotReadyLog:
        return NotReadyLog()

    async def readiness(self) -> dict[str, str]:
        """What /readyz reports: database, broker, and a consumer on each of our queues.

        A failing check is also logged with its reason (rate-limited: see shared/readiness.py),
        so the service's own log says why it is not ready.
        """
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.db.ping(), 2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            if not await self.broker.ping(timeout=2):
                raise ConnectionError("broker did not answer")
            checks["broker"] = "ok"
            checks["consumers"] = await self._consumers_attached()
        except Exception as exc:
            checks["broker"] = f"unreachable: {type(exc).__name__}"
        self._not_ready_log.report(checks)
        return checks

    async def _consumers_attached(self) -> str:
        """Ask the broker afresh (a passive declare) whether each queue has a consumer.

        FastStream caches its declarations, so this opens its own short-lived channel.
        """
        connection = self.broker._connection  # no public accessor in faststream 0.7
        if connection is None:
            return "broker not connected"
        channel = await connection.channel()
        try:
            for sub in self.consumers.subscriptions:
                queue = await channel.declare_queue(sub.queue_name, passive=True)
                if (queue.declaration_result.consumer_count or 0) < 1:
                    return f"no consumer on {sub.queue_name}"
        finally:
            await channel.close()
        return "ok"

    def asyncapi(self) -> dict[str, Any]:
        spec = AsyncAPI(
            self.broker,
            title=f"CARE badges {self.name} service",
            version="1.0.0",
            description=f"Events the {self.name} service publishes and consumes.",
        )
        document: dict[str, Any] = spec.to_specification().to_jsonable()
        return document

    # --- HTTP ------------------------------------------------------------------------------

    def http_app(self, *routers: APIRouter, title: str, **fastapi_kwargs: Any) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            configure_logging(self.name, self.settings.log_level)
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(title=title, lifespan=lifespan, **fastapi_kwargs)
        app.state.service = self
        problems.install(app)
        app.include_router(self._operational_routes())
        for router in routers:
            app.include_router(router)
        app.add_middleware(NoStoreMiddleware)
        app.add_middleware(RequestLimitsMiddleware)
        app.add_middleware(ObservabilityMiddleware, service=self.name)
        return app

    def _operational_routes(self) -> APIRouter:
        router = APIRouter(include_in_schema=False)

        @router.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "ok", "service": self.name}

        @router.get("/readyz")
        async def readyz(response: Response) -> dict[str, Any]:
            checks = await self.readiness() if self.started else {"service": "starting"}
            ready = all(v == "ok" for v in checks.values())
            response.status_code = 200 if ready else 503
            return {"status": "ready" if ready else "not ready", "checks": checks}

        @router.get("/metrics")
        async def metrics() -> Response:
            return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

        @router.get("/asyncapi.json")
        async def asyncapi() -> dict[str, Any]:
            return self.asyncapi()

        return router


def _messaging_attributes(row: Any, service: str) -> dict[str, Any]:
    return {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "send",
        "messaging.destination.name": row.exchange,
        "messaging.rabbitmq.destination.routing_key": row.routing_key,
        "messaging.message.id": str(row.event_id),
        "messaging.message.conversation_id": row.correlation_id,
        "care.service": service,
    }
