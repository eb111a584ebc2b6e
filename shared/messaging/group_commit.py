"""Group commit: deliveries that wait at the same moment share one transaction.

Why: every delivery used to be a transaction of its own (take a connection, BEGIN, claim the
inbox row, the handler's statements, COMMIT and its flush to disk). At launch load the fixed
part of that cost more than the work: about 15 deliveries per order, each paying it. Here
workers (one by default, ``consumer_concurrency``) each run one transaction at a time;
deliveries that arrive while a worker is busy wait and go into the next transaction together.
A worker waits a moment (``linger``, 50 ms by default, reporting 100 ms) before each
transaction, woken by a delivery or after one that left less than a full batch waiting: the
events of an order reach a service tens of milliseconds apart, and gathered they share one
BEGIN, inbox claim and COMMIT. At a rate that fills a batch during a transaction the worker
never waits, and it never waits after a failure or before running deliveries again alone
(below): those share nothing.

What each delivery is promised does not change: its inbox claim and its handler's effects
commit together, and it is acknowledged only after that commit (the caller acks once
:meth:`GroupCommit.run` returns). Handlers in one transaction run one after another, so each
sees what the ones before it wrote, exactly as if they had run in sequence.

When anything in a shared transaction fails (a handler's exception, a deadlock, the commit),
the whole transaction rolls back and each of its deliveries is run again alone, so one bad
message cannot fail the others and the caller's retry and parking rules see only its own
failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from shared import tracing
from shared.events import Envelope
from shared.logging import LogFields, get_logger
from shared.metrics import GROUP_COMMIT_SIZE, Labelled
from shared.store import inbox
from shared.store.db import Database

log = get_logger(__name__)

Handler = Callable[[AsyncSession, Envelope[Any]], Awaitable[None]]


#: A lock every transaction of a group takes before anything else (``GroupCommit.first_lock``).
FirstLock = Callable[[AsyncSession], Awaitable[object]]


class SharedTransactionFailed(Exception):
    """The transaction this delivery shared failed; run it again on its own."""


@dataclass
class _Delivery:
    consumer: str
    handler: Handler
    envelope: Envelope[Any]
    #: The delivering task's log fields (correlation id, order id), bound again in the worker.
    log_fields: dict[str, Any]
    #: The delivering task's OpenTelemetry context (its consumer span), the handler's parent.
    trace_context: otel_context.Context
    done: asyncio.Future[bool] = field(default_factory=lambda: _loop().create_future())


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


class GroupCommit:
    """Runs handlers in shared transactions with at most ``workers`` transactions open."""

    def __init__(
        self,
        service: str,
        db: Database,
        inbox_table: Table,
        *,
        workers: int,
        max_batch: int = 50,
        linger: float = 0.0,
    ) -> None:
        self._service = service
        self._db = db
        self._inbox = inbox_table
        self._workers_wanted = max(1, workers)
        # Capped so a transaction stays short: its row locks are held until it commits.
        self._max_batch = max(1, max_batch)
        # A worker waits this long before taking a batch that is not full: woken by a
        # delivery, and after a transaction (going straight on, it took what had arrived
        # during the transaction, often one or two, so every other transaction was nearly
        # empty).
        self._linger = max(0.0, linger)
        self._shared: deque[_Delivery] = deque()
        self._alone: deque[_Delivery] = deque()
        self._waiting: asyncio.Event | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._sizes = Labelled(GROUP_COMMIT_SIZE, service)
        #: Taken first in every transaction, before the claim and any handler (None: nothing).
        #: Alone, each handler keeps its service's lock order; one after another in a shared
        #: transaction they do not: one that locked an order row, followed by one that waits
        #: for a lock its service takes first (dispatch's stock row), holds the row while it
        #: waits, and whoever holds that lock and wants the row deadlocks with it. A service
        #: whose writers all queue on one lock sets it here (``Service.lock_first``).
        self.first_lock: FirstLock | None = None

    async def run(
        self,
        consumer: str,
        handler: Handler,
        envelope: Envelope[Any],
        *,
        alone: bool = False,
        log_fields: dict[str, Any] | None = None,
    ) -> bool:
        """Claim ``envelope`` for ``consumer`` and run ``handler``; True unless a duplicate.

        Returns once the transaction has committed. Raises SharedTransactionFailed when a
        shared transaction failed (call again with ``alone=True``), or the handler's own
        exception when it ran alone. The handler logs with ``log_fields`` bound (by default
        the caller's bound log context: a consumer that bound them itself passes them, and
        spares a copy of the whole context per delivery).
        """
        delivery = _Delivery(
            consumer,
            handler,
            envelope,
            structlog.contextvars.get_contextvars() if log_fields is None else log_fields,
            otel_context.get_current(),
        )
        (self._alone if alone else self._shared).append(delivery)
        self._wake()
        return await delivery.done

    def _wake(self) -> None:
        if self._waiting is None:
            self._waiting = asyncio.Event()
        self._waiting.set()
        while len(self._workers) < self._workers_wanted:
            name = f"{self._service}-group-commit-{len(self._workers)}"
            # A clean context: a copy of the first caller's would carry its log fields.
            task = asyncio.create_task(self._work(), name=name, context=contextvars.Context())
            self._workers.append(task)

    async def close(self) -> None:
        """Stop the workers; deliveries not yet committed are left unacknowledged."""
        workers, self._workers = self._workers, []
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for delivery in (*self._shared, *self._alone):
            delivery.done.cancel()
        self._shared.clear()
        self._alone.clear()

    async def _work(self) -> None:
        assert self._waiting is not None
        while True:
            batch = self._next_batch()
            if not batch:
                self._waiting.clear()
                await self._waiting.wait()
                # Woken by the first of deliveries that arrive a moment apart: gathered, they
                # share one transaction (one BEGIN, inbox claim and COMMIT).
                if self._gathers():
                    await asyncio.sleep(self._linger)
                continue
            if await self._settle(batch) and self._gathers():
                await asyncio.sleep(self._linger)

    def _gathers(self) -> bool:
        """Whether waiting now would gather more into the next transaction.

        Not with a full batch waiting, nor with deliveries waiting to run alone after a
        failure (``_settle`` returns False for the failed transaction itself, before they are
        queued): those run one per transaction, so waiting would only hold up every delivery
        behind them (a failed batch of 50 at 50 ms each was 2.5 s).
        """
        return bool(self._linger) and not self._alone and len(self._shared) < self._max_batch

    def _next_batch(self) -> list[_Delivery]:
        if self._alone:
            return [self._alone.popleft()]
        batch: list[_Delivery] = []
        while self._shared and len(batch) < self._max_batch:
            delivery = self._shared.popleft()
            if not delivery.done.cancelled():  # its caller gave up (shutdown)
                batch.append(delivery)
        return batch

    async def _settle(self, batch: list[_Delivery]) -> bool:
        """Run ``batch`` in one transaction and tell each delivery how it went; True if it
        committed."""
        try:
            fresh = await self._transaction(batch)
        except asyncio.CancelledError:
            for delivery in batch:
                delivery.done.cancel()
            raise
        except Exception as exc:
            if len(batch) > 1:
                log.info(
                    "shared transaction failed, running its deliveries alone",
                    deliveries=len(batch),
                    error=type(exc).__name__,
                )
                exc = SharedTransactionFailed(type(exc).__name__)
            for delivery in batch:
                if not delivery.done.done():
                    delivery.done.set_exception(exc)
            return False
        self._sizes().observe(len(batch))
        for delivery, is_fresh in zip(batch, fresh, strict=True):
            if not delivery.done.done():
                delivery.done.set_result(is_fresh)
        return True

    async def _transaction(self, batch: list[_Delivery]) -> list[bool]:
        # The transaction's span is a child of the first delivery's trace and links the
        # others' (shared.store.db opens it); each handler's span is in its own trace.
        token = otel_context.attach(batch[0].trace_context)
        try:
            async with self._db.transaction() as session:
                if len(batch) > 1 and tracing.recording():
                    _link_batch(batch)
                if self.first_lock is not None:
                    await self.first_lock(session)
                fresh = await self._claim(session, batch)
                for delivery, is_fresh in zip(batch, fresh, strict=True):
                    if is_fresh:
                        with (
                            LogFields(delivery.log_fields),
                            tracing.span(
                                f"handle {delivery.envelope.type}", parent=delivery.trace_context
                            ),
                        ):
                            await delivery.handler(session, delivery.envelope)
        finally:
            otel_context.detach(token)
        return fresh

    async def _claim(self, session: AsyncSession, batch: list[_Delivery]) -> list[bool]:
        """One inbox insert for the whole batch; a key seen twice in it is fresh only once."""
        keys = [(d.consumer, d.envelope.event_id) for d in batch]
        claimed = await inbox.claim_many(session, list(dict.fromkeys(keys)))
        fresh = []
        for key in keys:
            fresh.append(key in claimed)
            claimed.discard(key)
        return fresh


def _link_batch(batch: list[_Delivery]) -> None:
    current = trace.get_current_span()
    current.set_attribute("care.deliveries", len(batch))
    for delivery in batch[1:]:
        current.add_link(trace.get_current_span(delivery.trace_context).get_span_context())
