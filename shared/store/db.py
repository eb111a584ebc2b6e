"""One async engine per service and the unit of work every change goes through.

A unit of work is one database transaction. Outbox rows written in it are published only after
it commits (the relays are told of them only then), so state and events never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared import tracing

_BEFORE_COMMIT = "before_commit"

Flush = Callable[[AsyncSession], Awaitable[None]]


def before_commit(session: AsyncSession, key: str, flush: Flush) -> None:
    """Run ``flush`` once, just before ``session``'s transaction commits.

    For work many handlers add to and one statement can do: when deliveries share a
    transaction (group commit), their changes to the same counters are written once, summed,
    instead of once per delivery, each waiting for the row lock the one before holds.
    Registering the same ``key`` again keeps the first flush.
    """
    session.info.setdefault(_BEFORE_COMMIT, {}).setdefault(key, flush)


class Database:
    """Engine, session factory and the hook that wakes the outbox relay after a commit."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        # No pool_pre_ping: it costs three round trips per transaction (measured at 8% of a
        # consumer's time). A connection lost to a database restart fails its transaction,
        # SQLAlchemy invalidates the pool, and the consumer's retry or the client's next
        # request gets a fresh one.
        #
        # ``pool_size`` connections plus as many again, all kept once opened: an overflow
        # connection (max_overflow) is closed on its return whenever the pool already holds
        # ``pool_size`` idle ones, so a bursty load opened and closed PostgreSQL connections
        # (a backend process and a TLS attempt each) all the time. Same ceiling per instance.
        #
        # ``hide_parameters``: a failed statement's error never carries its bound values
        # (emails, names, addresses), so logging the error cannot leak them.
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size * 2,
            max_overflow=0,
            pool_recycle=1800,
            hide_parameters=True,
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._after_commit: dict[str, list[Callable[[Any], None]]] = defaultdict(list)

    def on_commit(self, key: str, callback: Callable[[Any], None]) -> None:
        """Call ``callback(value)`` after a transaction commits that set ``session.info[key]``
        to ``value`` (for example, the events it wrote to the outbox).

        Keyed, so each relay wakes for its own outbox only: a commit that wrote events does
        not send the email relay looking for emails (a transaction that found none).
        """
        self._after_commit[key].append(callback)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: commit on success, roll back on any exception.

        Inside a trace (a request, a handler) the transaction is a span of it.
        """
        with tracing.child_span("db.transaction", **{"db.system.name": "postgresql"}):
            async with self._transaction() as session:
                yield session

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            async with session.begin():
                yield session
                # A flush may register another (one that emits an event): run until none is left.
                while flushes := session.info.pop(_BEFORE_COMMIT, None):
                    for flush in flushes.values():
                        await flush(session)
            for key, callbacks in self._after_commit.items():
                value = session.info.pop(key, None)
                if value:
                    for callback in callbacks:
                        callback(value)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
