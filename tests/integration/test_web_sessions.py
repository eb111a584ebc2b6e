"""The server-side session store on a real database: what it writes is what it reads back,
a rotation leaves nothing under the old id, an expired or ended session does not load."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import MetaData, func, select, update

from shared.web.sessions import SessionStore, web_sessions_table
from tests.support.databases import throwaway_database
from tests.support.round_trips import TRANSACTION, recording

pytestmark = pytest.mark.integration

metadata = MetaData()
table = web_sessions_table(metadata)


@pytest.fixture
async def store() -> AsyncIterator[SessionStore]:
    async with throwaway_database("care_sessions", metadata, pool_size=2) as database:
        yield SessionStore(database, timedelta(minutes=30))


async def rows(store: SessionStore) -> int:
    async with store.db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def test_a_saved_session_loads_with_its_answers_and_expiry(store: SessionStore) -> None:
    web = store.new()
    web["order"] = {"locations": ["1-101"], "staff": {"1-101": 12}, "name": "Zoë O'Brien"}
    session_id = await store.save(web)

    loaded = await store.load(session_id)

    assert loaded is not None and loaded.id == session_id
    assert loaded.data == {
        "order": {"locations": ["1-101"], "staff": {"1-101": 12}, "name": "Zoë O'Brien"}
    }
    drift = loaded.expires_at - (datetime.now(UTC) + timedelta(minutes=30))
    assert abs(drift.total_seconds()) < 5
    assert not loaded.modified  # just written: nothing to push back yet


async def test_a_rotated_session_lives_under_its_new_id_only(store: SessionStore) -> None:
    web = store.new()
    web["auth"] = {"kind": "planted"}
    old_id = await store.save(web)
    web = await store.load(old_id)
    assert web is not None

    web.rotate()
    web["auth"] = {"kind": "signed in"}
    new_id = await store.save(web)

    assert new_id != old_id
    assert await store.load(old_id) is None
    again = await store.load(new_id)
    assert again is not None and again.data == {"auth": {"kind": "signed in"}}
    assert await rows(store) == 1


async def test_an_expired_session_does_not_load(store: SessionStore) -> None:
    web = store.new()
    web["auth"] = {"kind": "provider"}
    session_id = await store.save(web)
    async with store.db.transaction() as session:
        await session.execute(update(table).values(expires_at=datetime.now(UTC)))

    assert await store.load(session_id) is None
    assert await store.purge_expired() == 1


async def test_an_ended_session_is_deleted_under_both_its_ids(store: SessionStore) -> None:
    web = store.new()
    first = await store.save(web)
    web = await store.load(first)
    assert web is not None
    web.rotate()
    await store.save(web)
    other = store.new()
    kept = await store.save(other)

    web.end()
    await store.delete(web)

    assert await rows(store) == 1
    assert await store.load(kept) is not None


async def test_loading_and_saving_a_session_are_one_statement_each_with_no_begin(
    store: SessionStore,
) -> None:
    """Every page request loads its session and many save it: one round trip each."""
    web = store.new()
    first = await store.save(web)
    web = await store.load(first)
    assert web is not None
    with recording(store.db.engine) as sent:
        web.rotate()
        web["auth"] = {"kind": "provider"}
        second = await store.save(web)
        assert await store.load(second) is not None
    assert sent.count() == 2
    assert sent.count(kinds=TRANSACTION) == 0
