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
from abc import ABC, abstractmethod
from typing import Any

from shared.logging import get_logger
from shared.store import prepared
from shared.store.db import Database

log = get_logger(__name__)

#: Seconds between housekeeping passes (backlog gauges, deleting old rows).
HOUSEKEEPING_EVERY = 5.0


#: Put in a commit's list instead of what was written inside a savepoint (which may still
#: roll back): the commit then only brings the sweep forward.
SWEEP_SOON: Any = object()


class Relay(ABC):
    """Runs rounds until stopped. A commit that set ``session.info[wake_on]`` to a list of
    what it wrote hands that list over (:meth:`committed`) and wakes the relay, which sends
    it from memory (:meth:`_from_memory`); every ``poll_seconds`` it sweeps
    (:meth:`_sweep`) for rows older than ``sweep_after`` seconds still unsent, after asking in
    one statement without a transaction (``due_sql``, given the table and ``sweep_after``)
    whether there are any (docs/adr/0081-publishing-from-memory-after-commit.md)."""

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
        stop_grace_seconds: float = 0.0,
    ) -> None:
        self.name = name
        self._db = db
        self._poll = poll_seconds
        self._sweep_after = sweep_after
        self._batch = batch
        self._due_sql = due_sql
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

    async def _round(self) -> bool:
        """One round: what is in memory, then the sweep if it is due; True when more waits."""
        if self._memory:
            taken, self._memory = self._memory[: self._batch], self._memory[self._batch :]
            await self._from_memory(taken)
        loop = asyncio.get_running_loop()
        if loop.time() < self._sweep_at:
            return bool(self._memory)
        self._sweep_at = loop.time() + self._poll
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
                await asyncio.wait_for(self._wake.wait(), self._poll)
