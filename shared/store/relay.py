"""The loop both outbox relays run: woken by a commit, polling as a fallback, backing off.

The event outbox (:class:`shared.store.outbox.OutboxRelay`) and the email outbox
(:class:`shared.email.EmailRelay`) differ only in what one round does with its rows; how they
wake, back off when the database or broker is away, and stop is the same, and lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod

from shared.logging import get_logger
from shared.store.db import Database

log = get_logger(__name__)

#: Seconds between housekeeping passes (backlog gauges, deleting old rows).
HOUSEKEEPING_EVERY = 5.0


class Relay(ABC):
    """Runs :meth:`_round` until stopped; :meth:`kick` (called on every outbox commit) wakes it."""

    def __init__(
        self,
        db: Database,
        *,
        name: str,
        poll_seconds: float,
        stop_grace_seconds: float = 0.0,
    ) -> None:
        self.name = name
        self._poll = poll_seconds
        self._stop_grace = stop_grace_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        db.on_outbox_commit(self.kick)

    @abstractmethod
    async def _round(self) -> bool:
        """Handle one batch of due rows; True when the batch was full (more may be due)."""

    @abstractmethod
    async def housekeeping(self) -> None:
        """Work done every few seconds beside the rounds: backlog gauges, old rows."""

    def kick(self) -> None:
        """Wake the relay now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
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
