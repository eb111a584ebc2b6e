"""A throwaway database with a set of tables, for tests of the platform's shared pieces (the
outbox and its relay, the inbox, group commit, web sessions) that need real PostgreSQL but no
service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData

from shared.store.db import Database
from shared.store.migrations import ensure_database
from tests.support import infra


@asynccontextmanager
async def throwaway_database(
    prefix: str, metadata: MetaData, *, pool_size: int = 5
) -> AsyncIterator[Database]:
    """A database of its own on the test cluster with ``metadata``'s tables, dropped after."""
    name = f"{prefix}_{infra.unique_suffix()}"
    url = f"{infra.PG}/{name}"
    await ensure_database(url)
    database = Database(url, pool_size=pool_size)
    try:
        async with database.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield database
    finally:
        await database.dispose()
        await infra.drop_databases([name])
