"""The allocator: decides recorded placements, a batch at a time, in placement order.

Every decision moves the one stock row, so decisions are serial whatever happens. Taking the
stock lock once per placement made that lock the bottleneck: each holder paid its round trips
and its commit, and waited for its process to be scheduled between them, while every other
placement queued. Consumers now only record placements (in parallel), and whichever replica's
allocator holds the lock decides every placement recorded so far, in placement order, in one
transaction (ADR 0011).

It wakes when a placement it recorded commits, and at least every ``idle_seconds`` (to pick up
what another process recorded, or what a crash left). A placement whose decision fails (a
bug, not a passing database fault) is tried alone and, after ``DECISION_ATTEMPTS`` failures,
left aside and counted, as a consumer parks a poison message: it never blocks the others.
"""

from __future__ import annotations

import asyncio
import contextlib

from services.dispatch.handlers.fulfilment import Fulfilment
from services.dispatch.store import repository
from shared.logging import get_logger
from shared.store.errors import is_transient

log = get_logger(__name__)


class Allocator:
    def __init__(self, steps: Fulfilment, *, batch: int, idle_seconds: float = 1.0) -> None:
        self._steps = steps
        self._db = steps.service.db
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
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._idle)
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.decide_all()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again shortly
                failures += 1
                log.warning("allocator paused", error=type(exc).__name__, attempt=failures)
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                self._wake.set()
        log.debug("allocator stopped")

    async def decide_all(self) -> int:
        """Decide batches until none is left; returns how many placements were decided."""
        decided = 0
        while True:
            try:
                async with self._db.transaction() as session:
                    # Look before taking the stock lock: most idle wake-ups find nothing to
                    # do. In the same transaction as the decisions: a transaction of its own
                    # was one more per order at launch load (docs/adr/0053).
                    if not await repository.any_undecided(session):
                        return decided
                    done = await self._steps.decide_placements(session, self._batch)
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.error("a batch of placements failed; deciding one by one", error=repr(exc))
                done = await self._one_by_one()
            decided += done
            if done < self._batch:
                return decided

    async def _one_by_one(self) -> int:
        """Decide the next batch's placements alone, setting aside any that fail."""
        async with self._db.transaction() as session:
            order_ids = await repository.undecided_ids(session, self._batch)
        decided = 0
        for order_id in order_ids:
            try:
                async with self._db.transaction() as session:
                    decided += await self._steps.decide_placements(session, 1, only=order_id)
            except Exception as exc:
                if is_transient(exc):
                    raise
                async with self._db.transaction() as session:
                    attempts = await repository.note_failed_decision(session, order_id)
                log.error(
                    "placement could not be decided",
                    order_id=str(order_id),
                    attempts=attempts,
                    parked=attempts >= repository.DECISION_ATTEMPTS,
                    error=repr(exc),
                )
        return decided
