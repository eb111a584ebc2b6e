"""The event outbox's relay on a real PostgreSQL database: what a commit writes is published
from memory and marked, with whatever else was published close to it, in one statement, and
whatever that misses the sweep sends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, select, text

from shared.email import email_outbox_table, queue_email
from shared.email.message import EmailMessage
from shared.email.outbox import EMAILS_QUEUED
from shared.events import OrderCancelled
from shared.runtime import Service
from shared.store import outbox
from shared.store.db import Database
from shared.store.forget import forget_published_events
from tests.support.databases import throwaway_database
from tests.support.platform import eventually
from tests.support.round_trips import recording


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[tuple[Database, Table, Table]]:
    metadata = MetaData()
    events = outbox.outbox_table(metadata)
    emails = email_outbox_table(metadata)
    async with throwaway_database("care_outbox_test", metadata) as db:
        yield db, events, emails


class Broker:
    """Stands in for the broker: records each publish, or refuses while told to."""

    def __init__(self) -> None:
        self.published: list[Any] = []
        self.refusing = False

    async def publish(self, row: Any) -> None:
        if self.refusing:
            raise ConnectionResetError("the broker is away")
        self.published.append(row)


@pytest.fixture
async def relay(
    database: tuple[Database, Table, Table],
) -> AsyncIterator[tuple[outbox.OutboxRelay, Broker, Database, Table]]:
    db, events, _ = database
    async with db.transaction() as session:
        await session.execute(events.delete())
    broker = Broker()
    # A sweep every 30 s: within a test, only what the commit hands over is published,
    # unless the test runs the sweep itself.
    relay = outbox.OutboxRelay(
        db, events, broker.publish, service="outbox-test", poll_seconds=30, sweep_after=0.2
    )
    relay.start()
    await asyncio.sleep(0.1)  # the first round's sweep, over an empty table
    try:
        yield relay, broker, db, events
    finally:
        await relay.stop()


async def emit(db: Database, events: Table, *, fail: bool = False) -> uuid.UUID:
    order_id = uuid.uuid4()
    async with db.transaction() as session:
        await outbox.add(session, events, OrderCancelled(order_id=order_id), "corr")
        if fail:
            raise RuntimeError("the change failed")
    return order_id


async def unpublished(db: Database, events: Table) -> int:
    async with db.transaction() as session:
        rows = await session.execute(select(events.c.id).where(events.c.published_at.is_(None)))
        return len(rows.all())


async def until_published(broker: Broker, db: Database, events: Table, n: int) -> None:
    """Until the broker has ``n`` events and the table none unmarked."""

    async def done() -> bool:
        return len(broker.published) >= n and await unpublished(db, events) == 0

    await eventually(done, timeout=5)


async def test_a_commit_publishes_its_events_from_memory_and_marks_them(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
) -> None:
    relay_, broker, db, events = relay
    sweeps = 0
    sweep = relay_.publish_batch

    async def counted_sweep() -> int:
        nonlocal sweeps
        sweeps += 1
        return await sweep()

    relay_.publish_batch = counted_sweep  # type: ignore[method-assign]
    await emit(db, events)
    await emit(db, events)
    await until_published(broker, db, events, 2)
    assert len(broker.published) == 2
    assert sweeps == 0  # nothing was claimed back from the table
    assert {row.event_type for row in broker.published} == {"OrderCancelled"}


async def test_events_published_close_together_are_marked_in_one_statement(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
) -> None:
    """Each commit wakes the relay, which publishes its events at once; the mark waits a
    moment for the next ones, so three commits a moment apart are one UPDATE
    (three before: a transaction each, one or two per order at launch load)."""
    relay_, broker, db, events = relay
    relay_._settle_after = 1.0  # as in production, well beyond the three commits' spread
    with recording() as sent:
        for _ in range(3):
            await emit(db, events)
            await asyncio.sleep(0.03)  # the relay takes each commit in a round of its own
        await until_published(broker, db, events, 3)
    marks = [s.sql for s in sent.sent if s.sql.startswith("UPDATE") and "published_at" in s.sql]
    assert len(marks) == 1, marks


async def test_what_was_published_is_marked_when_the_relay_stops(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
) -> None:
    relay_, broker, db, events = relay
    relay_._settle_after = 30.0  # the mark is surely still owed when the relay stops
    await emit(db, events)
    await eventually(lambda: published(broker, 1))
    assert await unpublished(db, events) == 1
    await relay_.stop()
    assert await unpublished(db, events) == 0


async def test_a_sweep_never_resends_what_was_published_and_not_yet_marked(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
) -> None:
    """The sweep takes rows unmarked for ``sweep_after``; what this relay published and has
    not marked yet is marked first, so the sweep finds nothing to send again."""
    relay_, broker, db, events = relay
    relay_._settle_after = 30.0  # the mark would wait well past the sweep
    await emit(db, events)
    await eventually(lambda: published(broker, 1))
    await asyncio.sleep(0.3)  # older than the fixture's sweep_after (0.2 s)
    relay_._sweep_at = 0.0  # the sweep is due
    relay_.kick()
    await eventually(lambda: no_unpublished(db, events), timeout=5)
    assert len(broker.published) == 1


def test_a_mark_waits_at_most_half_of_sweep_after(database: tuple[Database, Table, Table]) -> None:
    """Another replica sweeps rows unmarked for ``sweep_after``: a relay marks what it
    published well before that, however long it was told it may wait."""
    db, events, _ = database
    quick = outbox.OutboxRelay(db, events, Broker().publish, service="t", sweep_after=0.2)
    assert quick._settle_after == 0.1
    slow = outbox.OutboxRelay(db, events, Broker().publish, service="t", sweep_after=5.0)
    assert slow._settle_after == 0.25


async def published(broker: Broker, n: int) -> bool:
    return len(broker.published) == n


async def no_unpublished(db: Database, events: Table) -> bool:
    return await unpublished(db, events) == 0


async def test_a_rolled_back_transaction_publishes_nothing(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
) -> None:
    relay_, broker, db, events = relay
    with pytest.raises(RuntimeError):
        await emit(db, events, fail=True)
    await relay_.publish_batch()
    assert broker.published == []


async def test_an_event_the_broker_refused_from_memory_is_sent_by_the_sweep(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
) -> None:
    relay_, broker, db, events = relay
    broker.refusing = True
    await emit(db, events)
    await asyncio.sleep(0.5)  # refused from memory, and now older than sweep_after
    assert broker.published == []
    assert await unpublished(db, events) == 1
    broker.refusing = False
    assert await relay_.publish_batch() == 1
    assert len(broker.published) == 1
    assert await unpublished(db, events) == 0


async def test_a_stopped_relay_leaves_its_commits_to_a_later_sweep(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
) -> None:
    relay_, broker, db, events = relay
    await relay_.stop()  # as a process that dies straight after committing
    await emit(db, events)
    await asyncio.sleep(0.3)
    assert broker.published == []
    relay_.start()  # as its replacement: the first round sweeps
    await until_published(broker, db, events, 1)
    assert len(broker.published) == 1


async def test_a_fresh_row_is_left_to_the_process_publishing_it_from_memory(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
) -> None:
    """The sweep takes only rows older than ``sweep_after``: one committed a moment ago is
    being published by the process that wrote it, and sweeping it too would send it twice."""
    relay_, _, db, events = relay
    await relay_.stop()
    await emit(db, events)
    assert await relay_.publish_batch() == 0
    await asyncio.sleep(0.3)
    assert await relay_.publish_batch() == 1


async def test_an_event_commit_does_not_wake_the_email_relay(
    database: tuple[Database, Table, Table],
) -> None:
    db, events, emails = database
    woken: list[str] = []
    db.on_commit(outbox.EVENTS_WRITTEN, lambda _: woken.append("events"))
    db.on_commit(EMAILS_QUEUED, lambda _: woken.append("emails"))
    await emit(db, events)
    assert woken == ["events"]
    async with db.transaction() as session:
        await queue_email(session, emails, EmailMessage("a@example.org", "s", "b\n"))
    assert woken == ["events", "emails"]
    async with db.transaction() as session:
        await session.execute(text("SELECT 1"))
    assert woken == ["events", "emails"]


async def test_a_transactions_events_are_written_in_one_statement_as_it_commits(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, broker, db, events = relay
    statements: list[int] = []
    write = outbox._write

    async def counted(session: Any, table: Table, rows: Any) -> None:
        statements.append(len(rows))
        await write(session, table, rows)

    monkeypatch.setattr(outbox, "_write", counted)
    async with db.transaction() as session:
        for _ in range(3):
            await outbox.add(session, events, OrderCancelled(order_id=uuid.uuid4()), "corr")
        assert statements == []  # nothing written until the commit
    assert statements == [3]
    await until_published(broker, db, events, 3)


async def test_an_event_written_in_a_savepoint_that_rolls_back_is_never_published(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
) -> None:
    relay_, broker, db, events = relay
    kept = OrderCancelled(order_id=uuid.uuid4())
    async with db.transaction() as session:
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                await outbox.add(session, events, OrderCancelled(order_id=uuid.uuid4()), "c")
                raise RuntimeError("the savepoint rolls back")
        await outbox.add(session, events, kept, "corr")
    await asyncio.sleep(0.3)  # older than sweep_after: the sweep may take what was committed
    await relay_.publish_batch()
    await until_published(broker, db, events, 1)
    assert [row.body for row in broker.published if str(kept.order_id) in row.body]
    assert len(broker.published) == 1


async def test_a_statement_carries_what_was_emitted_before_it_and_the_commit_the_rest(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
) -> None:
    """A transaction's last statement may write its events itself (``carrying_insert``):
    they are then not written again at the commit, an event emitted after that statement
    still is, and all of them are published from memory once each."""
    from shared.store import prepared

    _, broker, db, events = relay
    carried, after = OrderCancelled(order_id=uuid.uuid4()), OrderCancelled(order_id=uuid.uuid4())
    with recording() as sent, sent.labelled("carrying"):
        async with db.transaction() as session:
            await outbox.add(session, events, carried, "corr")
            statement = f"WITH written AS ({outbox.carrying_insert(1)}) SELECT 1"
            await prepared.fetch(session, statement, *outbox.take_pending(session))
            assert outbox.take_pending(session) == [[]] * 7  # taken: nothing left
            await outbox.add(session, events, after, "corr")
    inserts = [s.sql for s in sent.of("carrying") if "INSERT INTO outbox" in s.sql]
    assert len(inserts) == 2 and inserts[0].startswith("WITH written"), inserts
    await until_published(broker, db, events, 2)
    bodies = [row.body for row in broker.published]
    assert len(bodies) == 2
    assert [str(carried.order_id) in b for b in bodies].count(True) == 1
    assert [str(after.order_id) in b for b in bodies].count(True) == 1
    async with db.transaction() as session:
        rows = await session.execute(select(events.c.body))
        assert len(rows.all()) == 2


async def test_carried_rows_are_stamped_again_when_the_transaction_goes_on_long_after(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A carried row's ``created_at`` is when its statement ran; the sweep takes rows older
    than ``sweep_after`` as another process's. A transaction that goes on after it (an
    allocator's batch, a waitlist served) has them stamped again as it commits, so the sweep
    does not send them a second time beside the send from memory."""
    from shared.store import prepared

    relay_, broker, db, events = relay
    monkeypatch.setattr(outbox, "RESTAMP_AFTER", 0.05)
    carried = OrderCancelled(order_id=uuid.uuid4())
    async with db.transaction() as session:
        await outbox.add(session, events, carried, "corr")
        statement = f"WITH written AS ({outbox.carrying_insert(1)}) SELECT 1"
        await prepared.fetch(session, statement, *outbox.take_pending(session))
        await asyncio.sleep(0.3)  # older than the fixture's sweep_after (0.2 s) by the commit
        before_commit = await session.scalar(text("SELECT clock_timestamp()"))
    async with db.transaction() as session:
        stamped = await session.scalar(select(events.c.created_at))
    assert stamped > before_commit
    await until_published(broker, db, events, 1)
    await relay_.publish_batch()  # a sweep now: nothing of this transaction is due
    assert len(broker.published) == 1


async def test_inside_a_savepoint_nothing_is_carried_and_the_commit_writes_it(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
) -> None:
    """A savepoint may roll back what its statements write: events emitted before it are not
    taken by a statement inside it, and the commit writes them as usual."""
    _, broker, db, events = relay
    kept = OrderCancelled(order_id=uuid.uuid4())
    async with db.transaction() as session:
        await outbox.add(session, events, kept, "corr")
        async with session.begin_nested():
            assert outbox.take_pending(session) == [[]] * 7
    await until_published(broker, db, events, 1)
    assert str(kept.order_id) in broker.published[0].body


async def test_an_erasure_deletes_a_published_row_the_relay_has_not_marked_yet(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
) -> None:
    """Erasing a person deletes the published rows that name them. A row sent a moment
    before and not yet marked looked unsent to that delete, and kept its copy of their data
    for the outbox's retention (the privacy deletion test failed in CI that way). The erasure
    has the relay mark what it sent first (``Service.forget_published``)."""
    relay_, broker, db, events = relay
    relay_._settle_after = 30.0  # the mark is surely still owed when the erasure comes
    order_id = await emit(db, events)
    await eventually(lambda: published(broker, 1))
    async with db.transaction() as session:
        assert await forget_published_events(session, events, [str(order_id)]) == 0
    service = SimpleNamespace(relay=relay_, outbox_table=events)
    async with db.transaction() as session:
        forgotten = await Service.forget_published(service, session, [str(order_id)])  # type: ignore[arg-type]
    assert forgotten == 1
    assert await unpublished(db, events) == 0
    async with db.transaction() as session:
        assert (await session.execute(select(events.c.id))).all() == []


async def test_settling_at_once_waits_for_a_settle_already_under_way(
    relay: tuple[outbox.OutboxRelay, Broker, Database, Table],
) -> None:
    """A settle under way has taken the owed ids off the list: one that found the list empty
    and returned at once would let the erasure's delete run before that mark committed."""
    relay_, broker, db, events = relay
    relay_._settle_after = 30.0
    await emit(db, events)
    await eventually(lambda: published(broker, 1))
    async with relay_._settling:  # a settle under way, holding the owed ids
        owed, relay_._owed = relay_._owed, []
        waiting = asyncio.ensure_future(relay_.settle_now())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        relay_._owed = owed  # (the one under way fails and hands them back)
    await waiting
    assert await unpublished(db, events) == 0
