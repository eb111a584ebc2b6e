"""Transactional outbox and its relay.

A service writes its state change and the event in one transaction (:func:`add`). Once that
transaction commits, the process that wrote the rows publishes them from memory, each with a
broker confirm, and marks them published in one statement of its own. Nothing is lost to a
crash: rows not marked (the process died, the broker refused) are still in the table, and
the relay's sweep claims rows left unpublished for ``sweep_after`` seconds with ``FOR UPDATE
SKIP LOCKED`` (so several replicas share the work without waiting on one another) and
publishes them, marking them in the same transaction. Delivery is at least once, and
consumers' inboxes make it exactly-once in effect.

Why from memory: claiming committed rows back (BEGIN, SELECT ... FOR UPDATE, UPDATE, COMMIT)
cost each committing transaction a second transaction of four statements, a third of a
service's transactions per order (docs/adr/0081-publishing-from-memory-after-commit.md).

We evaluated the faststream-outbox package (see docs/adr/0002-outbox-relay.md): this relay is
kept because it shares the services' unit of work and metadata, and is small enough to read.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

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
from shared.store.db import Database, before_commit
from shared.store.relay import SWEEP_SOON, Relay

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


#: Set in a transaction's session info to the events it wrote: its commit hands them to the relay.
EVENTS_WRITTEN = "outbox_events_written"


@dataclass(frozen=True)
class WrittenEvent:
    """An outbox row as the relay publishes it, kept in memory from the write to the commit."""

    event_id: UUID
    event_type: str
    exchange: str
    routing_key: str
    correlation_id: str
    body: str
    traceparent: str | None


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


#: Every service's outbox table (:func:`outbox_table`).
TABLE = "outbox"

_CASTS = ("uuid", "varchar", "varchar", "varchar", "varchar", "text", "varchar")


@functools.cache
def _add_many(table: str, first: int) -> str:
    """Every emit runs it, so it runs on asyncpg's prepared statement
    (shared/store/prepared.py); any number of events is one statement, its arrays (from
    ``$first``) the only parameters.

    ``created_at`` is the moment of the write, which is just before the commit (the rows are
    written as it begins, or by the transaction's last statement), not the transaction's
    start: the sweep leaves rows younger than ``sweep_after`` to the process publishing them
    from memory, and a long transaction's rows would otherwise look old the moment they
    commit, and be sent twice."""
    arrays = ", ".join(f"${first + i}::{cast}[]" for i, cast in enumerate(_CASTS))
    return (
        f"INSERT INTO {table} "  # noqa: S608 - a table name of this module, never input
        "(event_id, event_type, exchange, routing_key, correlation_id, body, traceparent,"
        f" created_at) SELECT *, clock_timestamp() FROM unnest({arrays})"
    )


def carrying_insert(first: int) -> str:
    """The outbox's insert, for a statement to carry as a data-modifying CTE
    (``written AS (...)``): it writes the events the transaction has emitted so far
    (:func:`take_pending`, seven arrays, parameters ``$first`` on), so the commit needs no
    statement of its own for them. Used where a transaction that emits ends on a statement of
    its own anyway (a sign-in's session, a dispatch's allocation): one round trip fewer each."""
    return _add_many(TABLE, first)


def take_pending(session: AsyncSession) -> list[list[Any]]:
    """The columns of the events ``session``'s transaction has emitted and not yet written,
    taken for a statement with :func:`carrying_insert` to write: the commit then writes only
    what is emitted after it. Seven empty arrays when there are none (the CTE writes nothing),
    and inside a savepoint, which may roll back what it writes (they stay for the commit).

    The rows' ``created_at`` is when they are written (see :func:`_add_many`), which should be
    just before the commit: the sweep takes rows older than ``sweep_after`` as another
    process's, and would send them again beside this process's send from memory. A
    transaction that goes on for more than :data:`RESTAMP_AFTER` after a carrying statement
    (an allocator's batch, a waitlist served) has its carried rows stamped again as it commits.
    """
    if session.in_nested_transaction():
        return [[] for _ in _COLUMNS]
    pending = session.info.pop(_PENDING, None)
    if pending is None:
        return [[] for _ in _COLUMNS]
    if pending["table"].name != TABLE:
        raise ValueError(f"events pending for {pending['table'].name}, not {TABLE}")
    rows = pending["rows"]
    carried: _Carried = session.info.setdefault(_CARRIED, _Carried())
    carried.add([row["event_id"] for row in rows])
    return [[row[column] for row in rows] for column in _COLUMNS]


#: Seconds after its first carrying statement beyond which a transaction's carried rows are
#: stamped again at its commit: a fifth of the relays' default ``sweep_after`` (5 s).
RESTAMP_AFTER = 1.0

_RESTAMP = (
    f"UPDATE {TABLE} SET created_at = clock_timestamp()"  # noqa: S608 - this module's table
    " WHERE event_id = ANY($1::uuid[])"
)


@dataclass
class _Carried:
    """Events a statement wrote for the transaction, and when the first of them was taken."""

    event_ids: list[UUID] = field(default_factory=list)
    since: float = field(default_factory=time.monotonic)

    def add(self, event_ids: list[UUID]) -> None:
        self.event_ids.extend(event_ids)


async def _insert(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` with the transaction: the events of one transaction go in one statement
    just before it commits (identity's first sign-in emits three, one statement each before),
    or in a statement that carries them (:func:`take_pending`), and the commit hands them to
    the relay (:data:`EVENTS_WRITTEN`)."""
    written: list[WrittenEvent] = session.info.setdefault(EVENTS_WRITTEN, [])
    if session.in_nested_transaction():
        # A savepoint may still roll back what it writes: write now, inside it, and leave
        # the rows to the sweep, which only ever sees committed rows. (None is written so.)
        await _write(session, table, rows)
        written.append(SWEEP_SOON)
        return
    pending: dict[str, Any] = session.info.setdefault(_PENDING, {"table": table, "rows": []})
    if pending["table"] is not table:
        raise ValueError("one transaction writes one service's outbox")
    pending["rows"].extend(rows)
    written.extend(WrittenEvent(**row) for row in rows)
    before_commit(session, _PENDING, _write_pending)


async def _write_pending(session: AsyncSession) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending is not None:  # else a statement carried them (take_pending)
        await _write(session, pending["table"], pending["rows"])
    carried: _Carried | None = session.info.pop(_CARRIED, None)
    if carried is not None and time.monotonic() - carried.since > RESTAMP_AFTER:
        await prepared.fetch(session, _RESTAMP, carried.event_ids)


async def _write(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    await prepared.fetch(
        session,
        _add_many(table.name, 1),
        *([row[column] for row in rows] for column in _COLUMNS),
    )


_PENDING = "outbox_rows_to_write"
_CARRIED = "outbox_rows_carried"

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


_MARK = "UPDATE {table} SET published_at = now() WHERE event_id = ANY($1::uuid[])"
_ANY_DUE = (
    "SELECT EXISTS (SELECT 1 FROM {table} WHERE published_at IS NULL"
    " AND created_at < now() - make_interval(secs => $1))"
)

PublishFn = Callable[[Any], Awaitable[None]]


class OutboxRelay(Relay):
    """Moves committed outbox rows to RabbitMQ until each is confirmed.

    ``publish`` receives one row and must return only once the broker has confirmed it.
    Rows committed by this process come from memory (:meth:`committed`); every
    ``poll_seconds`` the sweep looks for rows older than ``sweep_after`` seconds still
    unpublished (another process's, or ones whose publish failed) and sends those.
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
        sweep_after: float = 5.0,
        retention: timedelta = timedelta(hours=24),
    ) -> None:
        super().__init__(
            db,
            name=f"{service}-outbox-relay",
            wake_on=EVENTS_WRITTEN,
            poll_seconds=poll_seconds,
            sweep_after=sweep_after,
            batch=batch,
            due_sql=_ANY_DUE.format(table=table.name),
            settle_sql=_MARK.format(table=table.name),
        )
        self._table = table
        self._publish = publish
        self._service = service
        self._retention = retention

    async def _from_memory(self, written: list[WrittenEvent]) -> None:
        """Publish the events this process committed; those confirmed are marked with the
        others sent close to them (:meth:`Relay._settle_sent`)."""
        results = await asyncio.gather(
            *(self._publish(event) for event in written), return_exceptions=True
        )
        self._sent(self._count(written, results))
        self._raise_if_failed(results)

    async def _sweep(self) -> bool:
        return await self.publish_batch() == self._batch

    async def publish_batch(self) -> int:
        """Sweep: claim, publish and mark one batch of rows left unpublished for
        ``sweep_after`` seconds; returns how many rows were published."""
        t = self._table
        async with self._db.transaction() as session:
            rows: Sequence[Any] = (
                await session.execute(
                    select(t)
                    .where(
                        t.c.published_at.is_(None),
                        t.c.created_at < func.now() - timedelta(seconds=self._sweep_after),
                    )
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
            done = self._count(rows, results)
            if done:
                await session.execute(
                    update(t).where(t.c.event_id.in_(done)).values(published_at=func.now())
                )
        self._raise_if_failed(results)
        return len(done)

    def _count(self, rows: Sequence[Any], results: Sequence[BaseException | None]) -> list[UUID]:
        """Count each publish's outcome; the event ids the broker confirmed."""
        done = []
        for row, res in zip(rows, results, strict=True):
            outcome = "confirmed" if res is None else "failed"
            MESSAGES_PUBLISHED.labels(self._service, row.event_type, outcome).inc()
            if res is None:
                done.append(row.event_id)
        return done

    @staticmethod
    def _raise_if_failed(results: Sequence[BaseException | None]) -> None:
        failed = [r for r in results if r is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} outbox rows not confirmed: {failed[0]!r}")

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
