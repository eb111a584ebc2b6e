"""Placements: recorded as OrderPlaced arrives, decided a batch at a time in placement order.

OrderPlaced's handler only records the placement (a batch of them in one consumer transaction,
which takes the stock lock first, docs/adr/0051); the allocator decides recorded placements in
batches, in placement order, under the same lock (ADR 0011). Every decision moves the one
stock row, so decisions are serial whatever happens; deciding a batch in one transaction pays
the lock's round trips and commit once, not once per placement.

Placements are recorded as they arrive, not in placement order: one recorded after a hole in
the placement numbers is held a bounded moment for the missing one (``placement_gaps``), so an
order delayed in another replica is not overtaken by later ones that then leave the warehouse.

A placement whose decision fails (a bug, not a passing database fault) is tried alone and,
after ``DECISION_ATTEMPTS`` failures, left aside and counted, as a consumer parks a poison
message: it never blocks the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain import order_state, placement_gaps, waitlist
from services.dispatch.domain.order_state import Action, OrderFacts, Transition
from services.dispatch.store import ledger, orders, placements
from services.dispatch.store.orders import OrderRow
from services.dispatch.store.placements import DECISION_ATTEMPTS, Undecided
from services.dispatch.usecases.fulfilment import Fulfilment
from shared.events import EventPayload, OrderPlaced, StockReserved, StockWaitlisted
from shared.logging import get_logger, log_context
from shared.runtime import Service
from shared.store.errors import is_transient

log = get_logger(__name__)

#: Correlation id of the allocator's events when the placement carried none.
ALLOCATOR_CORRELATION = "dispatch-allocator"


@dataclass(frozen=True)
class Round:
    """What one call of the allocator did."""

    decided: int
    #: Seconds until a placement held behind a hole may be decided (None: none is held).
    look_again_in: float | None = None


class Context(NamedTuple):
    """What a batch decides by, under the stock lock: the badges available, and the first
    placement waiting for stock (None when nobody waits)."""

    available: int
    first_waiting: int | None


class Placements:
    """Recording placements and deciding them, over one service's database and outbox."""

    def __init__(self, service: Service, placement_waker: Callable[[], None] | None = None) -> None:
        self.fulfilment = Fulfilment(service)
        self.service = service
        self.settings = self.fulfilment.settings
        #: Called after a transaction that recorded a placement commits (wakes the allocator).
        self.placement_waker = placement_waker

    async def order_placed(
        self, session: AsyncSession, event: OrderPlaced, correlation_id: str
    ) -> bool:
        """Record a new order for the allocator, which decides placements in placement order;
        False if it was recorded before (a redelivery).

        No stock lock of its own: the consumer's transaction took it first (``app.py``), and
        the allocator decides placements a batch at a time under it (ADR 0011).
        """
        recorded = await placements.record_placement(
            session,
            event.order_id,
            account_id=event.account_id,
            placement_seq=event.placement_seq,
            quantity=event.quantity,
            delivery=event.delivery.model_dump(),
            correlation_id=correlation_id,
        )
        if not recorded:
            log.info("placement already seen")
            return False
        waker = self.placement_waker
        if waker is not None:
            sqlalchemy_event.listen(
                session.sync_session, "after_commit", lambda _session: waker(), once=True
            )
        return True

    async def decide_all(self, batch: int) -> Round:
        """Decide batches of ``batch`` until none is left or the rest wait behind a hole.

        Each batch is its own transaction. A batch that fails with a real error (not a
        passing database fault, which is raised for the caller to retry) is decided again one
        placement at a time, setting aside those that fail.
        """
        db = self.service.db
        decided = 0
        while True:
            try:
                async with db.transaction() as session:
                    # Look before taking the stock lock: most idle wake-ups find nothing to
                    # do. In the same transaction as the decisions: a transaction of its own
                    # was one more per order at launch load (docs/adr/0053).
                    if not await placements.any_undecided(session):
                        return Round(decided)
                    done = await self.decide_placements(session, batch)
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.error("a batch of placements failed; deciding one by one", error=repr(exc))
                done = await self._one_by_one(batch)
            decided += done.decided
            if done.look_again_in is not None or done.decided < batch:
                return Round(decided, done.look_again_in)

    async def _one_by_one(self, batch: int) -> Round:
        """Decide the next batch's placements alone, setting aside any that fail.

        Stops at the first one held behind a hole: a later one, decided alone, would see
        the held one's number just below its own, no hole, and go ahead of it (ADR 0011).
        """
        db = self.service.db
        async with db.transaction() as session:
            order_ids = await placements.undecided_ids(session, batch)
        decided = 0
        for order_id in order_ids:
            try:
                async with db.transaction() as session:
                    done = await self.decide_placements(session, 1, only=order_id)
            except Exception as exc:
                if is_transient(exc):
                    raise
                await self._note_failed(order_id, exc)
                continue
            decided += done.decided
            if done.look_again_in is not None:
                return Round(decided, done.look_again_in)
        return Round(decided)

    async def _note_failed(self, order_id: UUID, exc: Exception) -> None:
        """Count a placement's failed decision, so one that keeps failing is left aside."""
        async with self.service.db.transaction() as session:
            attempts = await placements.note_failed_decision(session, order_id)
        log.error(
            "placement could not be decided",
            order_id=str(order_id),
            attempts=attempts,
            parked=attempts >= DECISION_ATTEMPTS,
            error=repr(exc),
        )

    async def decide_placements(
        self, session: AsyncSession, limit: int, *, only: UUID | None = None
    ) -> Round:
        """Reserve or waitlist the earliest recorded placements, in placement order, up to
        the first one held behind a hole in the placement numbers.

        The stock lock is taken once for the whole batch. The
        common decisions (reserve it, or queue it behind an earlier waiting order) are
        written together in a handful of statements; anything else (a verified order that
        ships at once, an anonymised account, a late order that takes stock back) is
        decided on its own, in its turn, by :meth:`_decide`.
        """
        await ledger.lock_stock(session)
        undecided = await placements.lock_undecided(session, limit, only=only)
        ready = placement_gaps.ready(
            [p.recorded for p in undecided], self.settings.allocator_hole_wait_seconds
        )
        held = len(undecided) - ready.count
        undecided = undecided[: ready.count]
        if held:
            log.debug("placements held behind a hole", held=held, wait=ready.look_again_in)
        if not undecided:
            return Round(0, ready.look_again_in)
        _log_holes_passed(undecided)
        plain = _PlainDecisions()
        available, first_waiting = await placements.decision_context(session)
        for placement in undecided:
            order = placement.order
            step = self._plain_step(placement, available, first_waiting)
            if step is None:
                await self._write_plain(session, plain)
                after = await self._decide(session, placement, available, first_waiting)
                if after is None:
                    after = Context(*await placements.decision_context(session))
                available, first_waiting = after
                continue
            quantity, seq = order.quantity or 0, order.placement_seq or 0
            plain.add(order, step, quantity)
            if Action.RESERVE in step.actions:
                available -= quantity
            elif first_waiting is None or seq < first_waiting:
                first_waiting = seq
        await self._write_plain(session, plain)
        log.debug("placements decided", orders=len(undecided))
        return Round(len(undecided), ready.look_again_in)

    def _plain_step(
        self, placement: Undecided, available: int, first_waiting: int | None
    ) -> Transition | None:
        """The placement's transition if it is a plain reserve or waitlist, else None."""
        order = placement.order
        if placement.anonymised or order.facts.closed or order.facts.verified:
            return None
        seq, quantity = order.placement_seq, order.quantity
        if seq is None or quantity is None:
            return None
        earlier_waiting = first_waiting is not None and first_waiting < seq
        skip_ahead = self.settings.waitlist_partial_fills
        can_reserve = waitlist.can_reserve_on_arrival(
            quantity, available, earlier_waiting=earlier_waiting, skip_ahead=skip_ahead
        )
        if not can_reserve and (skip_ahead or not earlier_waiting):
            return None  # it may take stock back from later orders: decided on its own
        step = order_state.placed(order.facts, can_reserve=can_reserve)
        return step if step.actions in ((Action.RESERVE,), (Action.WAITLIST,)) else None

    async def _write_plain(self, session: AsyncSession, plain: _PlainDecisions) -> None:
        if not plain.orders:
            return
        await orders.save_facts_many(session, plain.facts)
        if plain.reserved:
            await ledger.reserve_many(session, plain.reserved)
        for event, correlation_id in plain.events:
            await self.service.emit(session, event, correlation_id)
        plain.clear()

    async def _decide(
        self,
        session: AsyncSession,
        placement: Undecided,
        available: int,
        first_waiting: int | None,
    ) -> Context | None:
        """Decide one placement the batch could not decide plainly, given the batch's context
        (the badges available, the first waiting placement) as of now, under the stock lock.

        Returns the context after it when the decision only reserved or waitlisted this
        order, so the batch goes on without reading it again (a verified order reserved and
        handed over, about half the orders at capacity); None when it did more (closed an
        anonymised holder's order, took stock back from later orders), and the batch reads
        it again."""
        order = placement.order
        correlation_id = order.correlation_id or ALLOCATOR_CORRELATION
        seq, quantity = order.placement_seq, order.quantity
        if seq is None or quantity is None:
            raise RuntimeError("an undecided placement without its sequence or quantity")
        apply = self.fulfilment.apply
        known = True
        with log_context(order_id=str(order.order_id), correlation_id=correlation_id):
            if placement.anonymised and not order.facts.closed:
                # AccountAnonymised came first: the order is closed and scrubbed, not served.
                order = await apply(
                    session, order, order_state.anonymised(order.facts), correlation_id
                )
                available, first_waiting = await placements.decision_context(session)
                known = False
            earlier_waiting = first_waiting is not None and first_waiting < seq
            skip_ahead = self.settings.waitlist_partial_fills
            can_reserve = waitlist.can_reserve_on_arrival(
                quantity, available, earlier_waiting=earlier_waiting, skip_ahead=skip_ahead
            )
            if not can_reserve and not order.facts.closed and (skip_ahead or not earlier_waiting):
                # Nobody placed earlier is waiting, yet it does not fit: orders placed after
                # it may have been decided first and taken the stock.
                late = waitlist.Waiting(order.order_id, quantity, seq)
                can_reserve = await self._make_room(session, late, available, correlation_id)
                known = False
            step = order_state.placed(order.facts, can_reserve=can_reserve)
            await apply(session, order, step, correlation_id, restricted=placement.restricted)
        if not known:
            return None
        if Action.RESERVE in step.actions:
            return Context(available - quantity, first_waiting)
        if Action.WAITLIST in step.actions:
            return Context(available, seq if first_waiting is None else min(first_waiting, seq))
        return Context(available, first_waiting)

    async def _make_room(
        self,
        session: AsyncSession,
        late: waitlist.Waiting,
        available: int,
        correlation_id: str,
    ) -> bool:
        """Take stock back from later-placed orders not yet allocated, as far as the rule
        says (ADR 0010); returns whether the late order can now be reserved."""
        later = await placements.lock_later_reservations(session, late.placement_seq)
        if not later:
            return False
        room = waitlist.make_room(
            late, later, available, skip_ahead=self.settings.waitlist_partial_fills
        )
        for order_id in room.requeue:
            order = await orders.lock_order(session, order_id)
            await self.fulfilment.apply(
                session, order, order_state.requeued(order.facts), correlation_id
            )
        if room.requeue:
            log.info(
                "reservations of later orders requeued for an order placed before them",
                requeued_orders=len(room.requeue),
            )
        return room.reserve


def _log_holes_passed(undecided: list[Undecided]) -> None:
    """Say when placements are decided past numbers that never came (after the wait)."""
    for placement in undecided:
        recorded = placement.recorded
        if recorded.after_a_hole:
            log.info(
                "placement decided past missing placement numbers",
                placement_seq=recorded.seq,
                missing=recorded.seq - (recorded.previous_seq or 0) - 1,
            )


class _PlainDecisions:
    """Plain placement decisions of one batch, written together by ``_write_plain``."""

    def __init__(self) -> None:
        self.orders: list[UUID] = []
        self.facts: list[tuple[UUID, OrderFacts]] = []
        self.reserved: list[tuple[UUID, int]] = []
        self.events: list[tuple[EventPayload, str]] = []

    def add(self, order: OrderRow, step: Transition, quantity: int) -> None:
        correlation_id = order.correlation_id or ALLOCATOR_CORRELATION
        self.orders.append(order.order_id)
        self.facts.append((order.order_id, step.after))
        if Action.RESERVE in step.actions:
            self.reserved.append((order.order_id, quantity))
            event: EventPayload = StockReserved(order_id=order.order_id, quantity=quantity)
        else:
            event = StockWaitlisted(order_id=order.order_id, quantity=quantity)
        self.events.append((event, correlation_id))

    def clear(self) -> None:
        self.orders.clear()
        self.facts.clear()
        self.reserved.clear()
        self.events.clear()
