"""Transactional outbox and its relay.

A service writes its state change and the event in one transaction (:func:`add`). The relay
claims unpublished rows with ``FOR UPDATE SKIP LOCKED`` (so several replicas' relays share the
work without waiting on one another), publishes each with a broker confirm, and marks it
published in the same transaction. A crash anywhere before that commit leaves the rows
unpublished and they are sent again: delivery is at least once, and consumers' inboxes make
it exactly-once in effect.

We evaluated the faststream-outbox package (see docs/adr/0002-outbox-relay.md): this relay is
kept because it shares the services' unit of work and metadata, and is small enough to read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from shared import tracing
from shared.events import Envelope, EventPayload, wrap
from shared.logging import get_logger
from shared.metrics import MESSAGES_PUBLISHED, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE
from shared.store import prepared
from shared.store.db import OUTBOX_DIRTY, Database
from shared.store.relay import Relay

log = get_logger(__name__)


def outbox_table(metadata: MetaData) -> Table:
    """The outbox table, added to a service's own metadata (and so its migrations)."""
    if "outbox" in metadata.tables:  # a second instance of the service in one process
        return metadata.tables["outbox"]
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("event_type", String(64), nullable=False),
        Column("exchange", String(64), nullable=False),
        Column("routing_key", String(128), nullable=False),
        Column("correlation_id", String(64), nullable=False),
        Column("body", Text, nullable=False),
        # The W3C traceparent of the span that emitted the event (shared.tracing).
        Column("traceparent", String(55)),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Index(
            "ix_outbox_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
        ),
    )


def _row(payload: EventPayload, correlation_id: str) -> tuple[Envelope[Any], dict[str, Any]]:
    envelope = wrap(payload, correlation_id)
    return envelope, {
        "event_id": envelope.event_id,
        "event_type": envelope.type,
        "exchange": payload.EXCHANGE,
        "routing_key": payload.ROUTING_KEY,
        "correlation_id": correlation_id,
        "body": envelope.model_dump_json(),
        "traceparent": tracing.current_traceparent(),
    }


#: Every emit runs it, so it runs on asyncpg's prepared statement (shared/store/prepared.py);
#: any number of events is one statement, its arrays the only parameters.
_ADD_MANY = (
    "INSERT INTO {table} "
    "(event_id, event_type, exchange, routing_key, correlation_id, body, traceparent) "
    "SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::varchar[], "
    "$5::varchar[], $6::text[], $7::varchar[])"
)


async def _insert(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    await prepared.fetch(
        session,
        _ADD_MANY.format(table=table.name),
        *([row[column] for row in rows] for column in _COLUMNS),
    )
    session.info[OUTBOX_DIRTY] = True


_COLUMNS = (
    "event_id",
    "event_type",
    "exchange",
    "routing_key",
    "correlation_id",
    "body",
    "traceparent",
)


async def add(
    session: AsyncSession, table: Table, payload: EventPayload, correlation_id: str
) -> Envelope[Any]:
    """Record an event to publish once the surrounding transaction commits."""
    envelope, row = _row(payload, correlation_id)
    await _insert(session, table, [row])
    return envelope


async def add_many(
    session: AsyncSession, table: Table, events: Sequence[tuple[EventPayload, str]]
) -> None:
    """:func:`add` for many events (each with its correlation id) in one statement."""
    if not events:
        return
    await _insert(session, table, [_row(p, cid)[1] for p, cid in events])


PublishFn = Callable[[Any], Awaitable[None]]


class OutboxRelay(Relay):
    """Moves committed outbox rows to RabbitMQ until each is confirmed.

    ``publish`` receives one row and must return only once the broker has confirmed it.
    """

    def __init__(
        self,
        db: Database,
        table: Table,
        publish: PublishFn,
        *,
        service: str,
        batch: int = 200,
        poll_seconds: float = 0.5,
        retention: timedelta = timedelta(hours=24),
    ) -> None:
        super().__init__(db, name=f"{service}-outbox-relay", poll_seconds=poll_seconds)
        self._db = db
        self._table = table
        self._publish = publish
        self._service = service
        self._batch = batch
        self._retention = retention

    async def _round(self) -> bool:
        return await self.publish_batch() == self._batch

    async def publish_batch(self) -> int:
        """Claim, publish and mark one batch; returns how many rows were published."""
        t = self._table
        async with self._db.transaction() as session:
            rows: Sequence[Any] = (
                await session.execute(
                    select(t)
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.id)
                    .limit(self._batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            results = await asyncio.gather(
                *(self._publish(row) for row in rows), return_exceptions=True
            )
            done = [row.id for row, res in zip(rows, results, strict=True) if res is None]
            for row, res in zip(rows, results, strict=True):
                outcome = "confirmed" if res is None else "failed"
                MESSAGES_PUBLISHED.labels(self._service, row.event_type, outcome).inc()
            if done:
                await session.execute(
                    update(t).where(t.c.id.in_(done)).values(published_at=func.now())
                )
        failed = len(rows) - len(done)
        if failed:
            first = next(r for r in results if r is not None)
            raise RuntimeError(f"{failed} outbox rows not confirmed: {first!r}")
        return len(done)

    async def housekeeping(self) -> None:
        """Export backlog figures and delete published rows past their retention."""
        t = self._table
        cutoff = datetime.now(UTC) - self._retention
        async with self._db.transaction() as session:
            backlog, oldest = (
                await session.execute(
                    select(func.count(), func.min(t.c.created_at)).where(t.c.published_at.is_(None))
                )
            ).one()
            await session.execute(delete(t).where(t.c.published_at < cutoff))
        OUTBOX_BACKLOG.labels(self._service).set(backlog)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        OUTBOX_OLDEST_AGE.labels(self._service).set(max(age, 0.0))
