"""What the in-process hot-path benchmarks share (``orders_hot_paths.py``,
``dispatch_hot_path.py``): a private cluster holding a service's tables, a stand-in for
:class:`shared.runtime.Service` that writes events to its outbox, a tally of the statements
each path runs, and how the figures are reported.

Statements are counted as the session runs them: SQLAlchemy's (each ``before_cursor_execute``,
so an ``executemany`` once) and the prepared ones (``shared/store/prepared.py``), BEGIN and
COMMIT aside.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, event
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import EventPayload
from shared.store import outbox, prepared
from shared.store.db import Database
from tests.support.private_infra import PrivatePostgres, private_root

RESULTS = Path(__file__).resolve().parent / "results"


@asynccontextmanager
async def private_database(metadata: MetaData) -> AsyncIterator[tuple[Database, Table]]:
    """A PostgreSQL cluster of this run's own holding ``metadata``'s tables and an outbox
    (the database and the outbox table); removed afterwards."""
    root = private_root()
    postgres = PrivatePostgres(root)
    try:
        await asyncio.to_thread(postgres.start)
        db = Database(f"{postgres.url}/postgres")
        table = outbox.outbox_table(metadata)
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        try:
            yield db, table
        finally:
            await db.dispose()
    finally:
        postgres.remove()
        shutil.rmtree(root, ignore_errors=True)


def report(result: dict[str, Any], out: str) -> None:
    """Print the figures, and keep them as ``bench/results/<out>`` if ``out`` is given."""
    print(json.dumps(result, indent=2))
    if out:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / out).write_text(json.dumps(result, indent=2) + "\n")


class OutboxService:
    """What a service's use cases need of :class:`shared.runtime.Service` to emit: its
    database and outbox (every event accepted)."""

    name = "service"

    def __init__(self, db: Database, table: Any) -> None:
        self.db = db
        self.outbox_table = table

    async def emit(self, session: AsyncSession, payload: EventPayload, correlation_id: str) -> Any:
        return await outbox.add(session, self.outbox_table, payload, correlation_id)

    async def emit_many(
        self, session: AsyncSession, events: Sequence[tuple[EventPayload, str]]
    ) -> None:
        await outbox.add_many(session, self.outbox_table, events)


class Tally:
    """Statements run, by the path running them (set ``path`` before each), and each
    statement's count by path (its first 100 characters, whitespace folded)."""

    def __init__(self, db: Database) -> None:
        self.path = ""
        self.counts: Counter[str] = Counter()
        self.sql: Counter[tuple[str, str]] = Counter()
        real = prepared.fetch

        async def counted(session: AsyncSession, sql: str, *args: Any) -> Any:
            self._count(sql)
            return await real(session, sql, *args)

        prepared.fetch = counted

        def cursor(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            self._count(statement)

        event.listen(db.engine.sync_engine, "before_cursor_execute", cursor)

    def _count(self, sql: str) -> None:
        self.counts[self.path] += 1
        self.sql[(self.path, " ".join(sql.split())[:100])] += 1

    def clear(self) -> None:
        self.counts.clear()
        self.sql.clear()

    def per(self, paths: Sequence[str], n: int) -> dict[str, float]:
        """Statements per ``n`` (orders, providers) on each path."""
        return {p: round(self.counts[p] / n, 2) for p in paths}

    def listing(self, paths: Sequence[str], n: int) -> dict[str, dict[str, float]]:
        """Each statement's count per ``n``, by path."""
        return {
            path: {sql: round(k / n, 2) for (p, sql), k in self.sql.items() if p == path}
            for path in paths
        }
