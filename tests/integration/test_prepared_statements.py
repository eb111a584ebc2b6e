"""The hottest statements on asyncpg's prepared statements (shared/store/prepared.py) stay in
the session's unit of work: they begin its transaction, commit and roll back with it, and
fail with SQLAlchemy's own errors."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import MetaData, func, select, text
from sqlalchemy.exc import IntegrityError

from shared.store import inbox, prepared
from shared.store.db import Database
from tests.support.databases import throwaway_database

pytestmark = pytest.mark.integration

metadata = MetaData()
inbox_t = inbox.inbox_table(metadata)


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    async with throwaway_database("care_prepared", metadata, pool_size=2) as database:
        yield database


async def claims(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(inbox_t))).scalar_one())


async def test_a_prepared_statement_commits_and_rolls_back_with_its_session(db: Database) -> None:
    kept, dropped = uuid.uuid4(), uuid.uuid4()
    async with db.transaction() as session:
        # First in the transaction: it must begin it, not run on its own and commit at once.
        assert await inbox.claim_many(session, [("q", kept)]) == {("q", kept)}
        assert (await session.execute(text("SELECT count(*) FROM inbox"))).scalar_one() == 1
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            assert await inbox.claim_many(session, [("q", dropped)]) == {("q", dropped)}
            raise RuntimeError("the handler failed")
    assert await claims(db) == 1
    async with db.transaction() as session:
        assert await inbox.claim_many(session, [("q", kept), ("q", dropped)]) == {("q", dropped)}


async def test_a_failed_prepared_statement_raises_sqlalchemys_error_and_the_pool_recovers(
    db: Database,
) -> None:
    event_id = uuid.uuid4()
    with pytest.raises(IntegrityError) as raised:
        async with db.transaction() as session:
            sql = "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)"
            await prepared.fetch(session, sql, "q", event_id)
            await prepared.fetch(session, sql, "q", event_id)
    assert str(event_id) not in str(raised.value.params or "")
    assert await claims(db) == 0
    for _ in range(3):  # every pooled connection is usable again
        async with db.transaction() as session:
            await inbox.claim_many(session, [("q", uuid.uuid4())])
    assert await claims(db) == 3
