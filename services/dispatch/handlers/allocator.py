"""The allocator: runs :meth:`Placements.decide_all` whenever placements may be waiting.

Consumers only record placements (in parallel); whichever replica's allocator holds the stock
lock decides every placement recorded so far, in placement order (ADR 0011). It wakes when a
placement its process recorded commits, and at least every ``idle_seconds`` (to pick up what
another process recorded, or what a crash left), or sooner when a placement held behind a hole
in the placement numbers may be decided. It runs with the service
(``service.attach``) like any other background work, and stops between transactions:
cancelling a batch mid-way could leave its connection holding the stock lock.
"""

from __future__ import annotations

import asyncio
import contextlib

from services.dispatch.usecases.placements import Placements
from shared.logging import get_logger

log = get_logger(__name__)


class Allocator:
    def __init__(self, placements: Placements, *, batch: int, idle_seconds: float = 1.0) -> None:
        self._placements = placements
        self._batch = batch
        self._idle = idle_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def kick(self) -> None:
        """Decide soon: a placement was recorded."""
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._wake.set()  # whatever was recorded before this process started
        self._task = asyncio.create_task(self._run(), name="dispatch-allocator")

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Let the batch in hand commit (cancelling it mid-transaction could leave its
        connection holding the stock lock), then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        failures = 0
        wait = self._idle
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            if self._stopping:
                return
            wait = self._idle
            try:
                done = await self._placements.decide_all(self._batch)
                failures = 0
                if done.look_again_in is not None:
                    wait = min(self._idle, done.look_again_in)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again shortly
                failures += 1
                log.warning("allocator paused", error=type(exc).__name__, attempt=failures)
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                self._wake.set()
        log.debug("allocator stopped")
