"""Identity's timed chores: expired links and quiet brute-force counters are deleted, so
personal data nobody confirmed does not linger (a pending registration holds a name, address
and phone), copies of people's data gathered for a subject access request go after a week,
and the counters table stays small.

Runs in every replica; each chore is an idempotent DELETE, so replicas racing do no harm.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from services.identity.store import links, subject_access
from services.identity.store import throttle as counters
from services.identity.usecases.throttling import SCOPES
from shared.periodic import Periodic
from shared.store.db import Database


class Housekeeping(Periodic):
    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        *,
        every: timedelta = timedelta(minutes=5),
        forget_counters_after: timedelta = timedelta(hours=24),
        forget_copies_after: timedelta = timedelta(days=7),
    ) -> None:
        super().__init__("identity-housekeeping", every, self.run_once)
        self._db = db
        self._clock = clock
        self._forget_after = forget_counters_after
        self._forget_copies_after = forget_copies_after

    async def run_once(self) -> int:
        now = self._clock()
        async with self._db.transaction() as session:
            removed = await links.forget_expired(session, now)
            for scope in SCOPES:
                removed += await counters.forget_quiet_counters(
                    session, scope, now - self._forget_after
                )
            # A copy of someone's data is gathered to be read soon after, not kept.
            removed += await subject_access.forget_requests_before(
                session, now - self._forget_copies_after
            )
        return removed
