"""Retention of the inbox: idempotency records are kept as long as a duplicate can still
arrive, then deleted, so the table does not grow for ever.

An inbox row holds ids only (consumer, event id, when), never personal data; it exists so a
redelivered event is absorbed. Redeliveries come within minutes (a crash before the ack, a
publisher's retry); a message replayed from a dead-letter queue by an operator may come days
later, which is why the default is a week. The outbox's retention is the relay's
(``outbox_retention_hours``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, delete

from shared.periodic import Periodic
from shared.store.db import Database


async def forget_old_inbox_rows(db: Database, inbox: Table, keep: timedelta) -> int:
    """Delete inbox rows older than ``keep``; returns how many went."""
    cutoff = datetime.now(UTC) - keep
    async with db.transaction() as session:
        result = await session.execute(delete(inbox).where(inbox.c.received_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def inbox_retention(db: Database, inbox: Table, keep: timedelta) -> Periodic:
    """The chore every service runs: hourly, delete inbox rows older than ``keep``."""

    async def job() -> int:
        return await forget_old_inbox_rows(db, inbox, keep)

    return Periodic("inbox-retention", timedelta(hours=1), job)
