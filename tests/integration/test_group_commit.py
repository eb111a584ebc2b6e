"""Group commit on real PostgreSQL: deliveries share transactions without losing what each
delivery is promised (its claim and effects commit together; a failure is its own)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import Envelope, OrderCancelled, wrap
from shared.messaging.group_commit import GroupCommit, SharedTransactionFailed
from shared.store.db import Database, before_commit
from shared.store.inbox import inbox_table
from tests.support.databases import throwaway_database

pytestmark = pytest.mark.integration

metadata = MetaData()
inbox = inbox_table(metadata)
effects = Table(
    "effects",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("txid", String(20), nullable=False),
)
totals = Table("totals", metadata, Column("id", Integer, primary_key=True), Column("n", Integer))


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    async with throwaway_database("care_group_commit", metadata) as database:
        async with database.engine.begin() as conn:
            await conn.execute(totals.insert().values(id=1, n=0))
        yield database


def event() -> Envelope[Any]:
    return wrap(OrderCancelled(order_id=uuid.uuid4()), "test")


async def record(session: AsyncSession, envelope: Envelope[Any]) -> None:
    """An effect that says which transaction wrote it."""
    txid = (await session.execute(text("SELECT txid_current()::text"))).scalar_one()
    await session.execute(effects.insert().values(event_id=str(envelope.event_id), txid=txid))


async def effect_rows(db: Database) -> dict[str, str]:
    async with db.transaction() as session:
        rows = await session.execute(select(effects.c.event_id, effects.c.txid))
        return {row.event_id: row.txid for row in rows}


async def inbox_count(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(inbox))).scalar_one())


async def test_deliveries_waiting_together_share_transactions_within_the_connection_cap(
    db: Database,
) -> None:
    group = GroupCommit("test", db, inbox, workers=3)
    opened = 0
    most = 0

    async def counted(session: AsyncSession, envelope: Envelope[Any]) -> None:
        nonlocal opened, most
        await record(session, envelope)
        active = (
            await session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND xact_start IS NOT NULL AND pid <> pg_backend_pid()"
                    " AND query NOT LIKE '%pg_stat_activity%'"
                )
            )
        ).scalar_one()
        most = max(most, int(active) + 1)
        opened += 1

    events = [event() for _ in range(120)]
    fresh = await asyncio.gather(*(group.run("q", counted, e) for e in events))
    await group.close()

    assert fresh == [True] * 120
    rows = await effect_rows(db)
    assert set(rows) == {str(e.event_id) for e in events}
    transactions = len(set(rows.values()))
    assert transactions < 40, f"{transactions} transactions for 120 deliveries"
    assert most <= 3
    assert await inbox_count(db) == 120


async def test_one_failing_handler_fails_only_its_own_delivery(db: Database) -> None:
    group = GroupCommit("test", db, inbox, workers=1)
    poison = event()

    async def handler(session: AsyncSession, envelope: Envelope[Any]) -> None:
        await record(session, envelope)
        if envelope.event_id == poison.event_id:
            raise RuntimeError("this message is bad")

    good = [event() for _ in range(20)]
    first = await asyncio.gather(
        *(group.run("q", handler, e) for e in [*good[:10], poison, *good[10:]]),
        return_exceptions=True,
    )
    # Those that shared the poison's transaction are told to run alone; none was committed.
    assert any(isinstance(r, SharedTransactionFailed) for r in first)
    redo = [
        e
        for e, r in zip([*good[:10], poison, *good[10:]], first, strict=True)
        if isinstance(r, SharedTransactionFailed)
    ]
    alone = await asyncio.gather(
        *(group.run("q", handler, e, alone=True) for e in redo), return_exceptions=True
    )
    await group.close()

    outcome = dict(zip([e.event_id for e in redo], alone, strict=True))
    assert isinstance(outcome.pop(poison.event_id), RuntimeError)
    assert all(r is True for r in outcome.values())
    rows = await effect_rows(db)
    assert set(rows) == {str(e.event_id) for e in good}
    assert await inbox_count(db) == 20  # the poison's claim rolled back with its effect


async def test_a_redelivery_in_the_same_transaction_has_one_effect(db: Database) -> None:
    group = GroupCommit("test", db, inbox, workers=1)
    envelope = event()
    others = [event() for _ in range(5)]
    results = await asyncio.gather(
        *(group.run("q", record, e) for e in [*others, envelope, envelope])
    )
    await group.close()
    assert results.count(True) == 6 and results.count(False) == 1
    assert len(await effect_rows(db)) == 6


async def test_the_same_event_for_two_consumers_is_fresh_for_each(db: Database) -> None:
    group = GroupCommit("test", db, inbox, workers=1)
    envelope = event()

    async def nothing(_session: AsyncSession, _envelope: Envelope[Any]) -> None:
        return None

    assert await asyncio.gather(
        group.run("orders.a", nothing, envelope), group.run("orders.b", nothing, envelope)
    ) == [True, True]
    await group.close()


async def test_work_left_for_the_commit_runs_once_per_shared_transaction(db: Database) -> None:
    group = GroupCommit("test", db, inbox, workers=1)
    flushes: list[int] = []

    async def add_one(session: AsyncSession, envelope: Envelope[Any]) -> None:
        await record(session, envelope)
        session.info["pending"] = session.info.get("pending", 0) + 1

        async def flush(s: AsyncSession) -> None:
            amount = s.info.pop("pending")
            flushes.append(amount)
            await s.execute(totals.update().values(n=totals.c.n + amount))

        before_commit(session, "totals", flush)

    await asyncio.gather(*(group.run("q", add_one, event()) for _ in range(60)))
    await group.close()

    rows = await effect_rows(db)
    assert sum(flushes) == 60
    assert len(flushes) == len(set(rows.values())) < 60  # one write per transaction
    async with db.transaction() as session:
        assert (await session.execute(select(totals.c.n))).scalar_one() == 60


@pytest.mark.parametrize("linger", [0.0, 0.05])
async def test_an_idle_worker_lingers_so_events_published_together_share_a_transaction(
    db: Database, linger: float
) -> None:
    """Events published together (a sign-in's account and locations events) reach a service
    a moment apart on different queues: an idle worker that waits ``linger`` before it
    begins takes both into one transaction; one that begins at once takes the first alone."""
    group = GroupCommit("test", db, inbox, workers=2, linger=linger)
    first, second = event(), event()
    try:
        await group.run("test.a", record, event())  # the workers start, and go idle
        one = asyncio.create_task(group.run("test.a", record, first))
        await asyncio.sleep(0.01)  # the second arrives while the first is being handled
        await asyncio.gather(one, group.run("test.b", record, second))
    finally:
        await group.close()
    txids = await effect_rows(db)
    shared = txids[str(first.event_id)] == txids[str(second.event_id)]
    assert shared is (linger > 0), txids


@pytest.mark.parametrize("linger", [0.0, 0.1])
async def test_a_worker_waits_after_a_transaction_so_what_came_meanwhile_shares_the_next(
    db: Database, linger: float
) -> None:
    """A delivery that arrives during a transaction and one that arrives just after it share
    the next transaction when the worker waits after each; a worker that goes straight on
    takes the first alone."""
    group = GroupCommit("test", db, inbox, workers=1, linger=linger)
    opened, gate = asyncio.Event(), asyncio.Event()

    async def held(session: AsyncSession, envelope: Envelope[Any]) -> None:
        await record(session, envelope)
        opened.set()
        await gate.wait()

    during, after = event(), event()
    try:
        first = asyncio.create_task(group.run("test.a", held, event()))
        await asyncio.wait_for(opened.wait(), 5)  # the first transaction is open, held
        second = asyncio.create_task(group.run("test.a", record, during))
        await asyncio.sleep(0.01)
        gate.set()
        await first  # committed; the worker has gone on, or is waiting
        await asyncio.gather(second, group.run("test.a", record, after))
    finally:
        await group.close()
    txids = await effect_rows(db)
    assert (txids[str(during.event_id)] == txids[str(after.event_id)]) is (linger > 0), txids


async def test_a_worker_that_waits_after_transactions_does_not_wait_with_a_full_batch_waiting(
    db: Database,
) -> None:
    """At a rate that fills a batch during a transaction the wait would only slow it: 30
    deliveries with batches of 10 go through in three transactions and without a wait
    between them."""
    group = GroupCommit("test", db, inbox, workers=1, max_batch=10, linger=1.0)
    events = [event() for _ in range(30)]
    try:
        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(group.run("test.a", record, e) for e in events))
        took = asyncio.get_running_loop().time() - started
    finally:
        await group.close()
    assert len(set((await effect_rows(db)).values())) == 3
    # All 30 wait before the worker starts, so it takes the first ten at once; after the
    # first and second transactions a full batch was waiting. A wait after each would take
    # at least 2 s.
    assert took < 0.9, took


async def test_deliveries_run_again_alone_after_a_failed_transaction_do_not_wait(
    db: Database,
) -> None:
    """A shared transaction that fails has each of its deliveries run again alone, one per
    transaction: waiting after each of those gathers nothing and holds up every delivery
    behind them (a failed batch of 50 at 50 ms each was 2.5 s)."""
    group = GroupCommit("test", db, inbox, workers=1, linger=1.0)
    poison = event()

    async def fails_for_poison(session: AsyncSession, envelope: Envelope[Any]) -> None:
        await record(session, envelope)
        if envelope.event_id == poison.event_id:
            raise RuntimeError("poison")

    async def deliver(envelope: Envelope[Any]) -> bool | None:
        """What the consumer does: run it again alone when the shared transaction failed."""
        try:
            return await group.run("test.a", fails_for_poison, envelope)
        except SharedTransactionFailed:
            try:
                return await group.run("test.a", fails_for_poison, envelope, alone=True)
            except RuntimeError:
                return None

    events = [event() for _ in range(3)]
    try:
        started = asyncio.get_running_loop().time()
        outcomes = await asyncio.gather(*(deliver(e) for e in [*events, poison]))
        took = asyncio.get_running_loop().time() - started
    finally:
        await group.close()
    assert outcomes == [True, True, True, None]
    assert set(await effect_rows(db)) == {str(e.event_id) for e in events}
    # Waiting after the failure and after each delivery run alone would take at least 4 s.
    assert took < 0.9, took


async def test_the_first_lock_is_taken_once_per_transaction_before_the_claim_and_the_handlers(
    db: Database,
) -> None:
    """A service whose writers all queue on one lock has every transaction take it first
    (dispatch's stock row): taken after a handler's row locks, it deadlocked."""
    group = GroupCommit("test", db, inbox, workers=1, linger=0.05)
    seen: list[str] = []

    async def lock(session: AsyncSession) -> None:
        claimed = await session.scalar(select(func.count()).select_from(inbox))
        seen.append(f"lock, {claimed} claimed")

    async def handler(session: AsyncSession, envelope: Envelope[Any]) -> None:
        seen.append("handler")

    group.first_lock = lock
    await asyncio.gather(*(group.run("q", handler, event()) for _ in range(3)))
    await group.close()
    assert seen == ["lock, 0 claimed", "handler", "handler", "handler"]
