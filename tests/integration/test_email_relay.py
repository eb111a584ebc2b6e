"""The email outbox on a real PostgreSQL database, sending to a real SMTP sink."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, func, select, text, update

from shared.email import (
    Attachment,
    EmailDeliveryError,
    EmailMessage,
    EmailRelay,
    SmtpSender,
    email_outbox_table,
    queue_email,
)
from shared.metrics import REGISTRY
from shared.store.db import Database
from shared.store.migrations import ensure_database
from tests.support import infra
from tests.support.mail import SmtpSink
from tests.support.platform import eventually
from tests.support.round_trips import recording

PDF = Attachment("receipt.pdf", "application/pdf", b"%PDF-1.7\n\x00\xff\n%%EOF")


def email(n: int, *attachments: Attachment) -> EmailMessage:
    return EmailMessage(f"worker{n}@example.org", f"message {n}", f"body {n}\n", attachments)


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[tuple[Database, Table]]:
    name = f"care_email_test_{infra.unique_suffix()}"
    url = f"{infra.PG}/{name}"
    await ensure_database(url)
    metadata = MetaData()
    table = email_outbox_table(metadata)
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield db, table
    finally:
        await db.dispose()
        await infra.drop_databases([name])


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


@pytest.fixture
async def outbox(
    database: tuple[Database, Table], sink: SmtpSink
) -> AsyncIterator[tuple[Database, Table]]:
    db, table = database
    async with db.transaction() as session:
        await session.execute(table.delete())
    sink.clear()
    yield db, table


@pytest.fixture
async def relays() -> AsyncIterator[list[EmailRelay]]:
    """Relays a test starts; stopped whatever the test's outcome."""
    started: list[EmailRelay] = []
    yield started
    for relay in started:
        await relay.stop()


def smtp(sink: SmtpSink) -> SmtpSender:
    return SmtpSender(sink.host, sink.port, "care-badges@example.org", timeout=5)


async def rows(db: Database, table: Table) -> list[Any]:
    async with db.transaction() as session:
        return list((await session.execute(select(table).order_by(table.c.created_at))).all())


def counted(service: str, outcome: str) -> float:
    labels = {"service": service, "outcome": outcome}
    return REGISTRY.get_sample_value("care_emails_sent_total", labels) or 0.0


def gauge(name: str, service: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"service": service})


async def test_a_committed_email_is_sent_with_its_attachment_and_then_deleted(
    outbox: tuple[Database, Table], sink: SmtpSink, relays: list[EmailRelay]
) -> None:
    db, table = outbox
    relay = EmailRelay(db, table, smtp(sink), "email-commit", poll_seconds=30)
    relay.start()
    relays.append(relay)

    async with db.transaction() as session:
        email_id = await queue_email(session, table, email(1, PDF))
        [row] = (await session.execute(select(table))).all()
        assert row.id == email_id and row.attachments[0]["filename"] == "receipt.pdf"

    # The commit wakes the relay: a 30 s poll would time this out.
    [message] = await sink.wait_for(1, timeout=5)
    assert message["To"] == "worker1@example.org" and message["Subject"] == "message 1"
    [part] = list(message.iter_attachments())
    assert part.get_content() == PDF.data
    await eventually(lambda: _empty(db, table), timeout=5)
    assert counted("email-commit", "sent") == 1


async def test_a_commit_while_the_relay_is_busy_still_wakes_it(
    outbox: tuple[Database, Table], sink: SmtpSink, relays: list[EmailRelay]
) -> None:
    db, table = outbox
    busy, resume = asyncio.Event(), asyncio.Event()

    class Relay(EmailRelay):
        async def housekeeping(self) -> None:  # the relay's work after finding nothing due
            busy.set()
            await resume.wait()
            await super().housekeeping()

    relay = Relay(db, table, smtp(sink), "email-busy", poll_seconds=60)
    relay.start()
    relays.append(relay)
    await asyncio.wait_for(busy.wait(), 5)
    async with db.transaction() as session:  # commits, and kicks, while the relay is busy
        await queue_email(session, table, email(1))
    resume.set()
    await sink.wait_for(1, timeout=5)  # not after the 60 s poll


async def test_a_committed_email_is_sent_from_memory_without_claiming_it_back(
    outbox: tuple[Database, Table], sink: SmtpSink, relays: list[EmailRelay]
) -> None:
    db, table = outbox
    relay = EmailRelay(db, table, smtp(sink), "email-memory", poll_seconds=30)
    relay.start()
    relays.append(relay)
    await asyncio.sleep(0.1)  # the first round's sweep, over an empty table
    drains = 0
    drain = relay._drain

    async def counted_drain(older_than: float) -> tuple[int, int]:
        nonlocal drains
        drains += 1
        return await drain(older_than)

    relay._drain = counted_drain  # type: ignore[method-assign]
    async with db.transaction() as session:
        await queue_email(session, table, email(1))
        await queue_email(session, table, email(2))
    await sink.wait_for(2, timeout=5)
    await eventually(lambda: _empty(db, table), timeout=5)
    assert drains == 0
    assert counted("email-memory", "sent") == 2


async def test_emails_sent_close_together_are_deleted_in_one_statement(
    outbox: tuple[Database, Table], sink: SmtpSink, relays: list[EmailRelay]
) -> None:
    """Each commit wakes the relay, which sends at once; the sent rows' delete waits a moment
    for the next ones, so three commits a moment apart are one DELETE (three before)."""
    db, table = outbox
    relay = EmailRelay(db, table, smtp(sink), "email-settle", poll_seconds=30)
    relay._settle_after = 1.0  # beyond the three commits' spread, however loaded the machine
    relay.start()
    relays.append(relay)
    await asyncio.sleep(0.1)  # the first round's sweep, over an empty table
    with recording() as sent:
        for n in range(3):
            async with db.transaction() as session:
                await queue_email(session, table, email(n))
            await sink.wait_for(n + 1, timeout=5)
        await eventually(lambda: _empty(db, table), timeout=5)
    deletes = [s.sql for s in sent.sent if s.sql.startswith("DELETE")]
    assert len(deletes) == 1, deletes
    assert counted("email-settle", "sent") == 3


async def test_an_email_whose_send_from_memory_failed_is_retried_by_the_sweep(
    outbox: tuple[Database, Table], sink: SmtpSink, relays: list[EmailRelay]
) -> None:
    db, table = outbox
    inner = smtp(sink)
    refused: list[str] = []

    class FlakySender:
        async def close(self) -> None:
            await inner.close()

        async def send(self, message: EmailMessage) -> None:
            if not refused:
                refused.append(message.subject)
                raise EmailDeliveryError("421")
            await inner.send(message)

    relay = EmailRelay(db, table, FlakySender(), "email-flaky", poll_seconds=0.2, sweep_after=0.5)
    relay.start()
    relays.append(relay)
    async with db.transaction() as session:
        await queue_email(session, table, email(1))
    [message] = await sink.wait_for(1, timeout=10)
    assert refused == ["message 1"] and message["Subject"] == "message 1"
    await eventually(lambda: _empty(db, table), timeout=5)
    assert counted("email-flaky", "deferred") == 1
    assert counted("email-flaky", "sent") == 1


async def _empty(db: Database, table: Table) -> bool:
    return await rows(db, table) == []


async def test_an_email_queued_in_a_rolled_back_transaction_is_never_sent(
    outbox: tuple[Database, Table], sink: SmtpSink
) -> None:
    db, table = outbox
    relay = EmailRelay(db, table, smtp(sink), "email-rollback")

    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await queue_email(session, table, email(1))
            raise RuntimeError("the registration failed")
    async with db.transaction() as session:
        await queue_email(session, table, email(2))

    assert await relay.send_batch() == 1
    assert await relay.send_batch() == 0
    assert [m["Subject"] for m in sink.messages] == ["message 2"]
    assert await rows(db, table) == []


async def test_transient_failures_retry_with_backoff_then_succeed(
    outbox: tuple[Database, Table], sink: SmtpSink
) -> None:
    db, table = outbox
    relay = EmailRelay(db, table, smtp(sink), "email-retry")
    async with db.transaction() as session:
        await queue_email(session, table, email(1))

    for attempt, wait in ((1, 5), (2, 10)):
        sink.refuse_next("451 4.3.0 mailbox busy, try later")
        assert await relay.send_batch() == 0
        [row] = await rows(db, table)
        assert row.attempts == attempt
        assert row.last_error == "EmailDeliveryError smtp:451"
        async with db.transaction() as session:
            delay = await session.scalar(
                select(func.extract("epoch", table.c.next_attempt_at - func.now()))
            )
        assert delay is not None and wait - 1 < float(delay) <= wait + 1
        assert await relay.send_batch() == 0  # not due yet
        await _make_due(db, table)

    assert await relay.send_batch() == 1
    assert [m["Subject"] for m in sink.messages] == ["message 1"]
    assert await rows(db, table) == []
    assert counted("email-retry", "retried") == 2 and counted("email-retry", "sent") == 1


PARKED = text("'infinity'::timestamptz")


async def _make_due(db: Database, table: Table) -> None:
    """Let the backoff pass without waiting for it (parked rows stay parked)."""
    async with db.transaction() as session:
        await session.execute(
            update(table)
            .where(table.c.next_attempt_at != PARKED)
            .values(next_attempt_at=func.now())
        )


async def test_rejected_and_exhausted_emails_are_parked_for_an_operator(
    outbox: tuple[Database, Table], sink: SmtpSink
) -> None:
    db, table = outbox
    relay = EmailRelay(db, table, smtp(sink), "email-park", max_attempts=2)
    async with db.transaction() as session:
        await queue_email(session, table, email(1))
    sink.refuse_next("550 5.1.1 no such mailbox")
    assert await relay.send_batch() == 0

    async with db.transaction() as session:
        await queue_email(session, table, email(2))
    sink.refuse_next("421 4.3.2 shutting down", times=2)
    assert await relay.send_batch() == 0
    await _make_due(db, table)
    assert await relay.send_batch() == 0

    async with db.transaction() as session:
        await queue_email(session, table, email(3))
        # A row no transport could send (written by hand): parked, and the rest still go.
        await session.execute(
            table.insert().values(
                id=uuid.uuid4(),
                recipient="a@b, c@d",
                subject="s",
                body="b",
            )
        )
    assert await relay.send_batch() == 1
    assert await relay.send_batch() == 0

    async with db.transaction() as session:
        parked = (
            await session.execute(
                select(table.c.subject, table.c.attempts, table.c.last_error)
                .where(table.c.next_attempt_at == PARKED)
                .order_by(table.c.subject)
            )
        ).all()
    assert [tuple(p) for p in parked] == [
        ("message 1", 1, "EmailRejected smtp:550"),
        ("message 2", 2, "EmailDeliveryError smtp:421"),
        ("s", 1, "EmailRejected row:ValueError"),
    ]
    assert [m["Subject"] for m in sink.messages] == ["message 3"]
    assert counted("email-park", "rejected") == 2
    assert counted("email-park", "gave_up") == 1

    async with db.transaction() as session:
        await queue_email(session, table, email(4))
        await session.execute(
            update(table)
            .where(table.c.subject == "message 4")
            .values(next_attempt_at=func.now() + text("interval '1 hour'"))
        )
    await relay.housekeeping()
    assert gauge("care_email_outbox_backlog", "email-park") == 1
    assert gauge("care_email_outbox_parked", "email-park") == 3


async def test_two_relays_on_one_table_send_each_email_exactly_once(
    outbox: tuple[Database, Table], sink: SmtpSink, relays: list[EmailRelay]
) -> None:
    db, table = outbox
    replica = Database(db.url)  # a second replica: its own engine and pool
    try:
        for i, replica_db in enumerate((db, replica)):
            relay = EmailRelay(replica_db, table, smtp(sink), f"email-pair-{i}", batch=5)
            relay.start()
            relays.append(relay)
        for chunk in range(5):
            async with db.transaction() as session:
                for n in range(chunk * 10, chunk * 10 + 10):
                    await queue_email(session, table, email(n))
        replica_relay = relays[1]
        replica_relay.kick()  # its database saw no commit of its own

        messages = await sink.wait_for(50, timeout=30)
        # A relay sends only while holding a row, and the sink records a message before it
        # answers: once the table is empty, every send that will ever happen has happened.
        await eventually(lambda: _empty(db, table), timeout=10)
        subjects = [m["Subject"] for m in sink.messages]
        assert len(subjects) == 50 and len(messages) >= 50
        assert sorted(subjects) == sorted(f"message {n}" for n in range(50))
        assert counted("email-pair-0", "sent") + counted("email-pair-1", "sent") == 50
    finally:
        for relay in relays:
            await relay.stop()
        relays.clear()
        await replica.dispose()


async def test_stop_lets_the_email_being_sent_finish(
    outbox: tuple[Database, Table], sink: SmtpSink
) -> None:
    db, table = outbox
    entered, release = asyncio.Event(), asyncio.Event()
    inner = smtp(sink)

    class SlowSender:
        async def close(self) -> None:
            await inner.close()

        async def send(self, message: EmailMessage) -> None:
            entered.set()
            await release.wait()
            await inner.send(message)

    # Queued before the relay starts, as a crashed run leaves them: swept at once.
    relay = EmailRelay(db, table, SlowSender(), "email-stop", poll_seconds=60, sweep_after=0)
    async with db.transaction() as session:
        await queue_email(session, table, email(1))
        await queue_email(session, table, email(2))
    relay.start()
    await asyncio.wait_for(entered.wait(), 5)  # the relay holds one email, mid-send
    stopping = asyncio.create_task(relay.stop())
    await asyncio.sleep(0.1)
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, 5)

    assert len(sink.messages) == 1  # the one in flight finished; the next was left queued
    assert len(await rows(db, table)) == 1
