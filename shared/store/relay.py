"""The loop both outbox relays run: handed what a commit wrote, sweeping for what that
missed, backing off.

The event outbox (:class:`shared.store.outbox.OutboxRelay`) and the email outbox
(:class:`shared.email.EmailRelay`) differ only in how they send and settle their rows; how
they take a commit's rows, wake, sweep, back off when the database or broker is away, and
stop is the same, and lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from abc import ABC, abstractmethod
from typing import Any

from shared.logging import get_logger
from shared.store import prepared
from shared.store.db import Database

log = get_logger(__name__)

#: Seconds between housekeeping passes (backlog gauges, deleting old rows).
HOUSEKEEPING_EVERY = 5.0

#: Seconds a row sent from memory may wait for the statement that settles it (marks it
#: published, deletes it as sent), so rows sent close together share that statement.
SETTLE_AFTER = 0.25


#: Put in a commit's list instead of what was written inside a savepoint (which may still
#: roll back): the commit then only brings the sweep forward.
SWEEP_SOON: Any = object()


class Relay(ABC):
    """Runs rounds until stopped. A commit that set ``session.info[wake_on]`` to a list of
    what it wrote hands that list over (:meth:`committed`) and wakes the relay, which sends
    it from memory (:meth:`_from_memory`); every ``poll_seconds`` it sweeps
    (:meth:`_sweep`) for rows older than ``sweep_after`` seconds still unsent, after asking in
    one statement without a transaction (``due_sql``, given the table and ``sweep_after``)
    whether there are any (docs/adr/0081-publishing-from-memory-after-commit.md).

    What was sent from memory is settled (``settle_sql``, given the rows' ids: marked
    published, or deleted as sent) up to ``settle_after`` seconds later, in one statement for
    everything sent meanwhile, and always before a sweep looks for unsent rows: a statement
    per round was a transaction per order or two at launch load. Rows sent and not yet settled
    when a process dies are sent again by the next sweep, as rows sent and not yet marked
    always were (consumers drop a repeated event by its id; an email may go twice).
    """

    def __init__(
        self,
        db: Database,
        *,
        name: str,
        wake_on: str,
        poll_seconds: float,
        sweep_after: float,
        batch: int,
        due_sql: str,
        settle_sql: str,
        stop_grace_seconds: float = 0.0,
        settle_after: float = SETTLE_AFTER,
    ) -> None:
        self.name = name
        self._db = db
        self._poll = poll_seconds
        self._sweep_after = sweep_after
        self._batch = batch
        self._due_sql = due_sql
        self._settle_sql = settle_sql
        # Well inside ``sweep_after``: a row sent and not yet settled is never swept as unsent.
        self._settle_after = min(settle_after, sweep_after / 2)
        self._owed: list[Any] = []  # ids sent from memory, not yet settled
        # Held while a settling statement runs, so :meth:`settle_now` waits for one under way.
        self._settling = asyncio.Lock()
        self._settle_at = math.inf  # when the oldest of them is due (never, while none is)
        self._stop_grace = stop_grace_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._memory: list[Any] = []
        self._sweep_at = 0.0
        db.on_commit(wake_on, self.committed)

    @abstractmethod
    async def _from_memory(self, written: list[Any]) -> None:
        """Send what this process committed (at most ``batch``); what fails is the sweep's."""

    @abstractmethod
    async def _sweep(self) -> bool:
        """Claim and send one batch of rows left unsent; True when the batch was full."""

    @abstractmethod
    async def housekeeping(self) -> None:
        """Work done every few seconds beside the rounds: backlog gauges, old rows."""

    def kick(self) -> None:
        """Wake the relay now instead of at the next poll."""
        self._wake.set()

    def committed(self, value: list[Any]) -> None:
        """Take what a commit wrote, to send it at once. A relay that is not running leaves
        it to a sweep (its own once started, or another replica's)."""
        if self.running:
            self._memory.extend(item for item in value if item is not SWEEP_SOON)
            if any(item is SWEEP_SOON for item in value):
                self._sweep_at = 0.0
        self.kick()

    def _sent(self, ids: list[Any]) -> None:
        """Rows sent from memory, to settle within ``settle_after`` seconds."""
        if ids:
            if not self._owed:
                self._settle_at = asyncio.get_running_loop().time() + self._settle_after
            self._owed.extend(ids)

    async def settle_now(self) -> None:
        """Settle at once everything this process has sent, after any settling under way.

        Erasing a person deletes the published rows that name them; a row sent a moment
        before and not yet settled still looks unsent, and would keep its copy of their data
        for the outbox's retention. So erasure settles first (``Service.forget_published``)."""
        await self._settle_sent(now=True)

    async def _settle_sent(self, *, now: bool) -> None:
        """Settle what was sent, in one statement: when it is due, when a batch's worth is
        owed, or at once (``now``: before a sweep, when stopping, before an erasure)."""
        async with self._settling:
            if not self._owed:
                return
            due = len(self._owed) >= self._batch
            if not (now or due or asyncio.get_running_loop().time() >= self._settle_at):
                return
            owed, self._owed, self._settle_at = self._owed, [], math.inf
            try:
                await prepared.fetch_alone(self._db.engine, self._settle_sql, owed)
            except BaseException:
                self._owed[:0] = owed  # tried again at the next round
                self._settle_at = asyncio.get_running_loop().time()
                raise

    async def _round(self) -> bool:
        """One round: what is in memory, what is owed settling, then the sweep if it is due;
        True when more waits."""
        if self._memory:
            taken, self._memory = self._memory[: self._batch], self._memory[self._batch :]
            await self._from_memory(taken)
        await self._settle_sent(now=False)
        loop = asyncio.get_running_loop()
        if loop.time() < self._sweep_at:
            return bool(self._memory)
        self._sweep_at = loop.time() + self._poll
        await self._settle_sent(now=True)  # so no row sent from memory looks unsent to the sweep
        if not await self._any_due():
            return bool(self._memory)
        return await self._sweep() or bool(self._memory)

    async def _any_due(self) -> bool:
        rows = await prepared.fetch_alone(self._db.engine, self._due_sql, self._sweep_after)
        return bool(rows[0][0])

    @property
    def running(self) -> bool:
        return self._task is not None and not self._stopping

    def start(self) -> None:
        self._sweep_at = 0.0  # a relay starting sweeps at once: a crashed run may have left rows
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Let the round in progress finish (up to the grace period), then stop."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), self._stop_grace)
        finally:  # out of grace, or stop() itself cancelled: cancel the round (rows come back)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        # What was sent is settled now; if that fails, a sweep sends it again.
        with contextlib.suppress(Exception):
            await self._settle_sent(now=True)

    async def _run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        last_housekeeping = loop.time() - HOUSEKEEPING_EVERY
        while not self._stopping:
            # Cleared before the round, not after: a commit that kicks while the round runs
            # must wake the next one at once, not wait out a whole poll.
            self._wake.clear()
            try:
                full = await self._round()
                failures = 0
                if loop.time() - last_housekeeping >= HOUSEKEEPING_EVERY:
                    await self.housekeeping()
                    last_housekeeping = loop.time()
                if full:
                    continue  # more are waiting: no pause
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database down: back off, try again
                failures += 1
                log.warning(
                    "relay round failed",
                    relay=self.name,
                    error=type(exc).__name__,
                    attempt=failures,
                )
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._pause(loop.time()))

    def _pause(self, now: float) -> float:
        """Seconds until the next round: the poll, or sooner if settling falls due first."""
        return max(0.0, min(self._poll, self._settle_at - now))
