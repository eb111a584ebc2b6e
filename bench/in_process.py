"""What the in-process hot-path benchmarks share (``orders_hot_paths.py``,
``dispatch_hot_path.py``): a private cluster holding a service's tables and a stand-in for
:class:`shared.runtime.Service` that writes events to its outbox. Their figures go where
every benchmark's go (bench/harness.py's ``write_results``); the statements each path runs
are recorded by ``tests/support/round_trips.py``.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncSession

from bench.harness import write_results
from shared.events import EventPayload
from shared.store import outbox
from shared.store.db import Database
from tests.support.private_infra import PrivatePostgres, private_root


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
    """Print the figures, and keep them as ``bench/results/<out>`` if ``out`` is given: the
    harness's ``write_results`` under the name dispatch_hot_path.py still calls."""
    write_results(out, result)


class OutboxService:
    """What a service's use cases need of :class:`shared.runtime.Service` to emit: its
    database and outbox (every event accepted)."""

    name = "service"

    def __init__(self, db: Database, table: Any) -> None:
        self.db = db
        self.outbox_table = table

    async def emit(self, session: AsyncSession, payload: EventPayload, correlation_id: str) -> Any:
        return await outbox.add(session, self.outbox_table, payload, correlation_id)
