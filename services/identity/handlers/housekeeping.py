"""Identity's timed chores: expired links and quiet brute-force counters are deleted, so
personal data nobody confirmed does not linger (a pending registration holds a name, address
and phone) and the counters table stays small.

Runs in every replica; each chore is an idempotent DELETE, so replicas racing do no harm.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from services.identity.api.context import ACCOUNT, RESET, SOURCE
from services.identity.store import links
from services.identity.store import throttle as counters
from shared.logging import get_logger
from shared.store.db import Database

log = get_logger(__name__)


class Housekeeping:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        *,
        every: timedelta = timedelta(minutes=5),
        forget_counters_after: timedelta = timedelta(hours=24),
    ) -> None:
        self._db = db
        self._clock = clock
        self._every = every
        self._forget_after = forget_counters_after
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="identity-housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> int:
        now = self._clock()
        async with self._db.transaction() as session:
            removed = await links.forget_expired(session, now)
            for scope in (ACCOUNT, SOURCE, RESET):
                removed += await counters.forget_quiet_counters(
                    session, scope, now - self._forget_after
                )
        return removed

    async def _run(self) -> None:
        while True:
            try:
                removed = await self.run_once()
                if removed:
                    log.info("housekeeping removed rows", rows=removed)
            except Exception:
                log.exception("housekeeping failed; will try again")
            await asyncio.sleep(self._every.total_seconds())
