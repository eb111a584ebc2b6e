"""The email outbox: an email is queued with the change that causes it and sent after commit.

:func:`queue_email` writes a row in the caller's transaction, so a rollback never sends the
email and a crash after commit never loses it. :class:`EmailRelay` sends committed rows and
deletes each once sent: the row holds personal data, so nothing is kept after delivery.

Once the transaction that queued an email commits, the process that queued it sends it from
memory and deletes the sent rows in one statement (docs/adr/0081: no transaction to read back
what it had just written). Rows that path misses (the process died, the send failed, a relay
was stopped) are swept once they are ``sweep_after`` seconds old: claim up to ``batch`` due
rows (``FOR UPDATE SKIP LOCKED``, so several replicas' relays share the work and never send
one email at the same time), send each while holding the row locks, delete the sent ones,
commit. Only the process that queued a younger row sends it, so two relays never send one
email at once. If the process dies, or the database is lost, after a send but before the
delete, the email is sent again: delivery is **at least once**.

A transient failure (:class:`EmailDeliveryError`, or any unexpected error) puts the row back
with ``next_attempt_at`` pushed out by :func:`retry_delay` (5 s, 10 s, 20 s ... capped at
10 min). A rejection (:class:`EmailRejected`), or the last of ``max_attempts`` failures, parks
the row for an operator: ``next_attempt_at`` becomes ``'infinity'`` and ``last_error`` says
why (an error code, never a server's text). Parked rows are counted by
``care_email_outbox_parked`` and, as they still hold personal data, should be dealt with::

    -- try them again
    UPDATE email_outbox SET next_attempt_at = now(), attempts = 0, last_error = NULL
     WHERE next_attempt_at = 'infinity';
    -- or give them up for good
    DELETE FROM email_outbox WHERE next_attempt_at = 'infinity';
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from prometheus_client import Counter, Gauge
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    delete,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from shared.email.message import (
    Attachment,
    EmailError,
    EmailMessage,
    EmailRejected,
    EmailSender,
)
from shared.logging import get_logger
from shared.metrics import REGISTRY
from shared.store import prepared
from shared.store.db import Database
from shared.store.relay import SWEEP_SOON, Relay

log = get_logger(__name__)

#: Set in a transaction's session info to the emails it queued: its commit hands them over.
EMAILS_QUEUED = "emails_queued"


@dataclass(frozen=True)
class QueuedEmail:
    """An email as queued, kept in memory from the queueing to the commit."""

    email_id: UUID
    message: EmailMessage


_DELETE_SENT = "DELETE FROM {table} WHERE id = ANY($1::uuid[])"
_ANY_DUE = (
    "SELECT EXISTS (SELECT 1 FROM {table} WHERE next_attempt_at <= now()"
    " AND (attempts > 0 OR created_at < now() - make_interval(secs => $1)))"
)

EMAILS_SENT = Counter(
    "care_emails_sent_total",
    "Emails the email relay handled, by outcome (sent, retried, rejected, gave_up; deferred:"
    " a send from memory failed and the retries take it over).",
    ["service", "outcome"],
    registry=REGISTRY,
)
EMAIL_OUTBOX_BACKLOG = Gauge(
    "care_email_outbox_backlog",
    "Queued emails not yet sent, including those waiting to retry (parked ones excluded).",
    ["service"],
    registry=REGISTRY,
)
EMAIL_OUTBOX_PARKED = Gauge(
    "care_email_outbox_parked",
    "Emails rejected or given up, kept in the outbox for an operator.",
    ["service"],
    registry=REGISTRY,
)

#: ``next_attempt_at`` of a parked row: never due.
PARKED = literal_column("'infinity'::timestamptz", DateTime(timezone=True))

FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(minutes=10)


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed send (1 -> 5 s, doubling, <= 10 min)."""
    doublings = min(max(attempts - 1, 0), 16)  # 5 s * 2**16 is far past the cap already
    return min(FIRST_RETRY * (1 << doublings), LONGEST_RETRY)


def email_outbox_table(metadata: MetaData) -> Table:
    """The email outbox, added to a service's own metadata (and so its migrations)."""
    if "email_outbox" in metadata.tables:  # a second instance of the service in one process
        return metadata.tables["email_outbox"]
    return Table(
        "email_outbox",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("recipient", Text, nullable=False),
        Column("subject", Text, nullable=False),
        Column("body", Text, nullable=False),
        # [{"filename", "content_type", "data_b64"}]
        Column("attachments", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column(
            "next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()
        ),
        Column("last_error", Text),
        Index("ix_email_outbox_next_attempt_at", "next_attempt_at"),
    )


async def queue_email(session: AsyncSession, table: Table, message: EmailMessage) -> UUID:
    """Queue ``message`` to be sent once the surrounding transaction commits; returns its id.

    In a :meth:`Database.transaction`, the commit wakes the email relays on that database; with
    a session of your own, call :meth:`EmailRelay.kick` after committing (or wait one poll).
    """
    email_id = uuid4()
    await session.execute(
        table.insert().values(
            id=email_id,
            # The moment it was queued, not the transaction's start (see the sweep).
            created_at=func.clock_timestamp(),
            recipient=message.to,
            subject=message.subject,
            body=message.body,
            attachments=[
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "data_b64": base64.b64encode(a.data).decode("ascii"),
                }
                for a in message.attachments
            ],
        )
    )
    emails_written(session, [email_id], [message])
    return email_id


#: The columns :func:`email_rows` fills, in its order.
EMAIL_COLUMNS = ("id", "recipient", "subject", "body", "attachments")


def email_rows(messages: Sequence[EmailMessage]) -> list[list[Any]]:
    """The emails as columns (:data:`EMAIL_COLUMNS`, the attachments as JSON text), for a
    statement that inserts them from ``unnest`` arrays: :func:`queue_emails`, or a service's
    own statement that queues an email with the change that causes it. Whoever writes them
    calls :func:`emails_written` with them, so the relay sends them after the commit. Such a
    statement sets ``created_at`` to ``clock_timestamp()`` (see the sweep)."""
    rows = [
        [
            uuid4(),
            m.to,
            m.subject,
            m.body,
            json.dumps(
                [
                    {
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "data_b64": base64.b64encode(a.data).decode("ascii"),
                    }
                    for a in m.attachments
                ]
            ),
        ]
        for m in messages
    ]
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * 5


#: Any number of emails in one statement, on asyncpg's prepared statement.
_QUEUE_MANY = (
    "INSERT INTO {table} (id, recipient, subject, body, attachments, created_at) "
    "SELECT id, recipient, subject, body, attachments::jsonb, clock_timestamp() "
    "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]) "
    "AS e(id, recipient, subject, body, attachments)"
)


async def queue_emails(
    session: AsyncSession, table: Table, messages: Sequence[EmailMessage]
) -> list[UUID]:
    """:func:`queue_email` for any number of messages in one prepared statement; their ids."""
    if not messages:
        return []
    columns = email_rows(messages)
    await prepared.fetch(session, _QUEUE_MANY.format(table=table.name), *columns)
    emails_written(session, columns[0], messages)
    return list(columns[0])


def emails_written(
    session: AsyncSession, email_ids: Sequence[UUID], messages: Sequence[EmailMessage]
) -> None:
    """Tell the session's commit which emails it queued, for the relay to send them at once.
    Inside a savepoint (which may still roll back) they are left to the sweep instead."""
    queued: list[QueuedEmail] = session.info.setdefault(EMAILS_QUEUED, [])
    if session.in_nested_transaction():
        queued.append(SWEEP_SOON)
        return
    queued.extend(QueuedEmail(i, m) for i, m in zip(email_ids, messages, strict=True))


def _message_from_row(row: Any) -> EmailMessage:
    return EmailMessage(
        to=row.recipient,
        subject=row.subject,
        body=row.body,
        attachments=tuple(
            Attachment(
                filename=a["filename"],
                content_type=a["content_type"],
                data=base64.b64decode(a["data_b64"], validate=True),
            )
            for a in row.attachments
        ),
    )


class EmailRelay(Relay):
    """Sends committed email outbox rows; attach it to the service to run alongside it."""

    def __init__(
        self,
        db: Database,
        table: Table,
        sender: EmailSender,
        service: str,
        *,
        poll_seconds: float = 1.0,
        max_attempts: int = 8,
        batch: int = 20,
        stop_grace_seconds: float = 15.0,
        sweep_after: float = 3.0,
    ) -> None:
        if max_attempts < 1 or batch < 1:
            raise ValueError("max_attempts and batch must be at least 1")
        super().__init__(
            db,
            name=f"{service}-email-relay",
            wake_on=EMAILS_QUEUED,
            poll_seconds=poll_seconds,
            sweep_after=sweep_after,
            batch=batch,
            due_sql=_ANY_DUE.format(table=table.name),
            settle_sql=_DELETE_SENT.format(table=table.name),
            stop_grace_seconds=stop_grace_seconds,
        )
        self._table = table
        self._sender = sender
        self._service = service
        self._max_attempts = max_attempts

    async def stop(self) -> None:
        """Stop sending, then close the sender's connection."""
        await super().stop()
        await self._sender.close()

    async def _from_memory(self, written: list[QueuedEmail]) -> None:
        await self.send_queued(written)

    async def _sweep(self) -> bool:
        claimed, _ = await self._drain(self._sweep_after)
        return claimed == self._batch

    async def send_queued(self, emails: list[QueuedEmail]) -> int:
        """Send the emails this process queued and committed; the sent ones are deleted with
        the others sent close to them (:meth:`Relay._settle_sent`). One that fails is left to the
        sweep, which counts attempts and retries."""
        sent: list[UUID] = []
        outcomes: list[str] = []
        for email in emails:
            try:
                await self._sender.send(email.message)
            except Exception as error:  # the sweep records it and retries with a pause
                outcomes.append("deferred")
                log.warning(
                    "email not sent, leaving it to the retries",
                    email_id=str(email.email_id),
                    error=_describe(error),
                )
                break  # the sender is likely down: the rest wait for the sweep as well
            sent.append(email.email_id)
            outcomes.append("sent")
        self._sent(sent)  # deleted with the others sent close to them (Relay._settle_sent)
        for outcome in outcomes:
            EMAILS_SENT.labels(self._service, outcome).inc()
        if sent:
            log.info("emails sent", count=len(sent))
        return len(sent)

    async def send_batch(self) -> int:
        """Handle up to ``batch`` due emails in one transaction, however recently queued;
        returns how many were sent."""
        _, sent = await self._drain(0.0)
        return sent

    async def _drain(self, older_than: float) -> tuple[int, int]:
        """Claim up to ``batch`` due rows, send each while holding its lock, settle them all.

        One transaction per batch rather than per email: at launch load each order queues two
        emails, and a transaction apiece (plus one more to find nothing left) was a third of
        orders' transactions. The price is that a crash between sending and committing sends
        the batch's emails again, at most ``batch`` duplicates per such crash instead of one.
        """
        t = self._table
        outcomes: list[str] = []
        async with self._db.transaction() as session:
            rows = (
                await session.execute(
                    select(
                        t.c.id, t.c.recipient, t.c.subject, t.c.body, t.c.attachments, t.c.attempts
                    )
                    .where(
                        t.c.next_attempt_at <= func.now(),
                        # Younger rows are being sent from memory by the process that queued
                        # them; a row tried before is the sweep's alone.
                        (t.c.attempts > 0)
                        | (t.c.created_at <= func.now() - timedelta(seconds=older_than)),
                    )
                    .order_by(t.c.next_attempt_at)
                    .limit(self._batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                if self._stopping and outcomes:
                    break  # the rest stay locked only until this commit, then come back
                error = await self._send(row)
                outcome = await self._settle(session, row, error)
                outcomes.append(outcome)
                if error is not None:
                    log.warning(
                        "email not sent",
                        email_id=str(row.id),
                        outcome=outcome,
                        error=_describe(error),
                        attempt=row.attempts + 1,
                    )
                    if not isinstance(error, EmailRejected):
                        break  # the sender is likely down: leave the rest due, not each timing out
        for outcome in outcomes:
            EMAILS_SENT.labels(self._service, outcome).inc()
        sent = outcomes.count("sent")
        if sent:
            log.info("emails sent", count=sent)
        return len(rows), sent

    async def _send(self, row: Any) -> Exception | None:
        """Send one claimed row; the error that stopped it, or None once it is sent."""
        try:
            message = _message_from_row(row)
        except (ValueError, KeyError, TypeError) as exc:  # a row that is no valid message
            return EmailRejected(f"row:{type(exc).__name__}")
        try:
            await self._sender.send(message)
        except Exception as exc:  # a sender's bug retries too, and never stops the rest
            return exc
        return None

    async def _settle(self, session: AsyncSession, row: Any, error: Exception | None) -> str:
        t = self._table
        if error is None:
            await session.execute(delete(t).where(t.c.id == row.id))
            return "sent"
        attempts = row.attempts + 1
        next_attempt: ColumnElement[datetime]
        if isinstance(error, EmailRejected):
            outcome, next_attempt = "rejected", PARKED
        elif attempts >= self._max_attempts:
            outcome, next_attempt = "gave_up", PARKED
        else:
            outcome = "retried"
            next_attempt = func.clock_timestamp() + retry_delay(attempts)
        await session.execute(
            update(t)
            .where(t.c.id == row.id)
            .values(attempts=attempts, next_attempt_at=next_attempt, last_error=_describe(error))
        )
        return outcome

    async def housekeeping(self) -> None:
        """Export the backlog and parked figures."""
        t = self._table
        parked = t.c.next_attempt_at == PARKED
        async with self._db.transaction() as session:
            waiting, stuck = (
                await session.execute(
                    select(
                        func.count().filter(~parked),
                        func.count().filter(parked),
                    ).select_from(t)
                )
            ).one()
        EMAIL_OUTBOX_BACKLOG.labels(self._service).set(waiting)
        EMAIL_OUTBOX_PARKED.labels(self._service).set(stuck)


def _describe(error: Exception) -> str:
    """What the outbox records about a failure: class names and codes, no message text."""
    if isinstance(error, EmailError):
        return f"{type(error).__name__} {error.code}"
    return type(error).__name__
