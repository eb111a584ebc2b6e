"""Retention of the inbox: idempotency records are kept as long as a duplicate can still
arrive, then deleted, so the table does not grow for ever.

An inbox row holds ids only (consumer, event id, when), never personal data; it exists so a
redelivered event is absorbed. Redeliveries come within minutes (a crash before the ack, a
publisher's retry); a message replayed from a dead-letter queue by an operator may come days
later, which is why the default is a week. The outbox's retention is the relay's
(``outbox_retention_hours``).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, delete

from shared.logging import get_logger
from shared.store.db import Database

log = get_logger(__name__)


async def forget_old_inbox_rows(db: Database, inbox: Table, keep: timedelta) -> int:
    """Delete inbox rows older than ``keep``; returns how many went."""
    cutoff = datetime.now(UTC) - keep
    async with db.transaction() as session:
        result = await session.execute(delete(inbox).where(inbox.c.received_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


class InboxRetention:
    """Runs :func:`forget_old_inbox_rows` every ``every`` while the service runs (a component)."""

    def __init__(
        self, db: Database, inbox: Table, keep: timedelta, every: timedelta = timedelta(hours=1)
    ) -> None:
        self._db, self._inbox, self._keep, self._every = db, inbox, keep, every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="inbox-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                removed = await forget_old_inbox_rows(self._db, self._inbox, self._keep)
                if removed:
                    log.info("old inbox rows deleted", rows=removed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again next time
                log.warning("inbox retention failed", error=type(exc).__name__)
            await asyncio.sleep(self._every.total_seconds())
