"""The steps that move stock and parcels, shared by the event handlers, the allocator, the API
and the CLI.

Each method runs inside the caller's transaction and follows the repository's locking
protocol (stock row, then order rows, then shipments), so replicas handling events about the
same stock at the same moment queue on the stock row instead of double-booking or deadlocking.
State, stock movements, ledger entries, shipments and the outbox rows of the events they cause
all commit together or not at all: a crash anywhere leaves no half-made parcel, and the
redelivered event does the whole step again.

OrderPlaced is the exception that keeps the others fast: its handler only records the
placement (no stock lock), and the allocator decides recorded placements in batches, in
placement order (:meth:`Fulfilment.decide_placements`, ADR 0011).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain import order_state, parcels, waitlist
from services.dispatch.domain.delivery import SCRUBBED, handoff, is_scrubbed
from services.dispatch.domain.order_state import Action, OrderFacts, Transition
from services.dispatch.domain.shipment import FINAL, ShipmentStatus, new_reference, next_status
from services.dispatch.domain.stock import BADGE, ITEMS, Balance, leaflets_packed
from services.dispatch.settings import DispatchSettings
from services.dispatch.store import privacy, repository
from services.dispatch.store.repository import OrderRow, ShipmentRow
from shared.events import (
    Delivery,
    DeliveryAddressChanged,
    DeliveryAddressChangeRefused,
    EventPayload,
    OrderDelivered,
    OrderDispatched,
    OrderPlaced,
    ParcelReturned,
    StockReceived,
    StockReleased,
    StockReserved,
    StockWaitlisted,
)
from shared.logging import get_logger, log_context
from shared.runtime import Service
from shared.store import outbox
from shared.store.forget import forget_published_events

log = get_logger(__name__)

#: Waiting orders read at once when serving the waitlist.
WAITLIST_PAGE = 500
#: Correlation id of the allocator's events when the placement carried none.
ALLOCATOR_CORRELATION = "dispatch-allocator"


class CallbackOutcome(StrEnum):
    APPLIED = "applied"
    REPLAY = "replay"
    UNKNOWN_SHIPMENT = "unknown_shipment"


@dataclass(frozen=True)
class CallbackResult:
    outcome: CallbackOutcome
    #: The shipment's status after the report (None unless applied).
    status: ShipmentStatus | None = None


class Fulfilment:
    """Dispatch's unit-of-work steps over one service's database and outbox."""

    def __init__(
        self, service: Service, placement_waker: Callable[[], None] | None = None
    ) -> None:
        if not isinstance(service.settings, DispatchSettings):
            raise TypeError("the dispatch steps need a service built with DispatchSettings")
        self.service = service
        self.settings: DispatchSettings = service.settings
        #: Called after a transaction that recorded a placement commits (wakes the allocator).
        self.placement_waker = placement_waker
        self._emitted = frozenset(service.emitted_routing_keys())

    # --- events about orders ---------------------------------------------------------------

    async def order_placed(
        self, session: AsyncSession, event: OrderPlaced, correlation_id: str
    ) -> None:
        """Record a new order for the allocator, which decides placements in placement order.

        No stock lock here: replicas record placements side by side, and the allocator
        decides them a batch at a time under one lock (ADR 0011).
        """
        recorded = await repository.record_placement(
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
            return
        waker = self.placement_waker
        if waker is not None:
            sqlalchemy_event.listen(
                session.sync_session, "after_commit", lambda _session: waker(), once=True
            )

    async def decide_placements(
        self, session: AsyncSession, limit: int, *, only: UUID | None = None
    ) -> int:
        """Reserve or waitlist the earliest recorded placements, in placement order.

        Returns how many were decided. The stock lock is taken once for the whole batch. The
        common decisions (reserve it, or queue it behind an earlier waiting order) are
        written together in a handful of statements; anything else (a verified order that
        ships at once, an anonymised account, a late order that takes stock back) is
        decided on its own, in its turn, by :meth:`_decide`.
        """
        await repository.lock_stock(session)
        undecided = await repository.lock_undecided(session, limit, only=only)
        if not undecided:
            return 0
        plain = _PlainDecisions()
        available, first_waiting = await repository.decision_context(session)
        for placement in undecided:
            order = placement.order
            step = self._plain_step(placement, available, first_waiting)
            if step is None:
                await self._write_plain(session, plain)
                await self._decide(session, placement)
                available, first_waiting = await repository.decision_context(session)
                continue
            quantity, seq = order.quantity or 0, order.placement_seq or 0
            plain.add(order, step, quantity)
            if Action.RESERVE in step.actions:
                available -= quantity
            elif first_waiting is None or seq < first_waiting:
                first_waiting = seq
        await self._write_plain(session, plain)
        log.debug("placements decided", orders=len(undecided))
        return len(undecided)

    def _plain_step(
        self, placement: repository.Undecided, available: int, first_waiting: int | None
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
        await repository.save_facts_many(session, plain.facts)
        if plain.reserved:
            await repository.reserve_many(session, plain.reserved)
        await self._emit_many(session, plain.events)
        plain.clear()

    async def _emit_many(
        self, session: AsyncSession, events: list[tuple[EventPayload, str]]
    ) -> None:
        """``service.emit`` for many events in one statement (same rows, same wake-up)."""
        for payload, _ in events:
            if payload.ROUTING_KEY not in self._emitted:
                raise ValueError(f"dispatch does not declare that it emits {payload.TYPE}")
        await outbox.add_many(session, self.service.outbox_table, events)

    async def _decide(self, session: AsyncSession, placement: repository.Undecided) -> None:
        order = placement.order
        correlation_id = order.correlation_id or ALLOCATOR_CORRELATION
        seq, quantity = order.placement_seq, order.quantity
        if seq is None or quantity is None:
            raise RuntimeError("an undecided placement without its sequence or quantity")
        with log_context(order_id=str(order.order_id), correlation_id=correlation_id):
            if placement.anonymised and not order.facts.closed:
                # AccountAnonymised came first: the order is closed and scrubbed, not served.
                order = await self._apply(
                    session, order, order_state.anonymised(order.facts), correlation_id
                )
            balance, earlier_waiting = await repository.placement_context(session, seq)
            skip_ahead = self.settings.waitlist_partial_fills
            can_reserve = waitlist.can_reserve_on_arrival(
                quantity,
                balance.available,
                earlier_waiting=earlier_waiting,
                skip_ahead=skip_ahead,
            )
            if not can_reserve and not order.facts.closed and (
                skip_ahead or not earlier_waiting
            ):
                # Nobody placed earlier is waiting, yet it does not fit: orders placed after
                # it may have been decided first and taken the stock.
                late = waitlist.Waiting(order.order_id, quantity, seq)
                can_reserve = await self._make_room(session, late, balance, correlation_id)
            step = order_state.placed(order.facts, can_reserve=can_reserve)
            await self._apply(session, order, step, correlation_id)

    async def _make_room(
        self,
        session: AsyncSession,
        late: waitlist.Waiting,
        balance: Balance,
        correlation_id: str,
    ) -> bool:
        """Take stock back from later-placed orders not yet allocated, as far as the rule
        says (ADR 0010); returns whether the late order can now be reserved."""
        later = await repository.lock_later_reservations(session, late.placement_seq)
        if not later:
            return False
        room = waitlist.make_room(
            late, later, balance.available, skip_ahead=self.settings.waitlist_partial_fills
        )
        for order_id in room.requeue:
            order = await repository.lock_order(session, order_id)
            await self._apply(session, order, order_state.requeued(order.facts), correlation_id)
        if room.requeue:
            log.info(
                "reservations of later orders requeued for an order placed before them",
                requeued_orders=len(room.requeue),
            )
        return room.reserve

    async def order_verified(
        self, session: AsyncSession, order_id: UUID, correlation_id: str
    ) -> None:
        """Ship a verified order that holds stock; remember the verification otherwise."""
        await repository.lock_stock(session)
        order = await repository.lock_order(session, order_id)
        await self._apply(session, order, order_state.verified(order.facts), correlation_id)

    async def order_closed(
        self, session: AsyncSession, order_id: UUID, correlation_id: str
    ) -> None:
        """A rejection or cancellation: give back what the order holds, serve the waitlist."""
        await repository.lock_stock(session)
        order = await repository.lock_order(session, order_id)
        await self._apply(session, order, order_state.closed(order.facts), correlation_id)

    async def delivery_changed(
        self, session: AsyncSession, event: DeliveryAddressChanged, correlation_id: str
    ) -> None:
        """Customer services corrected the address: used if the parcel has not left yet,
        otherwise refused with the reason, for the person who made the change."""
        order = await repository.lock_order(session, event.order_id)
        if order.facts.state is order_state.State.ALLOCATED:
            shipment = await repository.shipment_for_order(session, event.order_id)
            reference = shipment.reference if shipment else None
            log.warning("delivery address changed after hand-over to the courier: refused")
            reason = (
                f"The parcels were already handed to the courier (shipment {reference}) when "
                "the new address arrived, so they will go to the address they were sent with. "
                "If the courier cannot deliver them they come back to us and the order is "
                "passed to customer services."
            )
        elif order.facts.closed:
            log.info("delivery address changed for a closed order: refused")
            reference = None
            reason = (
                "The order is closed (rejected, cancelled, or its account was anonymised), so "
                "nothing will be sent and the new address was not kept."
            )
        else:
            await repository.set_delivery(session, event.order_id, event.delivery.model_dump())
            log.info("delivery address changed before hand-over: used")
            return
        refusal = DeliveryAddressChangeRefused(
            order_id=event.order_id,
            changed_by=event.changed_by,
            reason=reason,
            shipment_reference=reference,
        )
        await self.service.emit(session, refusal, correlation_id)

    async def account_anonymised(
        self, session: AsyncSession, account_id: UUID, correlation_id: str
    ) -> None:
        """Scrub and close the account's orders that have not been handed over."""
        await repository.remember_anonymised(session, account_id)
        await repository.lock_stock(session)
        serve = False
        for order in await repository.lock_account_orders(session, account_id):
            transition = order_state.anonymised(order.facts)
            # Serve once after closing them all, so one of the account's own waiting orders
            # is not reserved only to be released a moment later.
            serve |= Action.SERVE_WAITLIST in transition.actions
            actions = tuple(a for a in transition.actions if a is not Action.SERVE_WAITLIST)
            await self._apply(session, order, replace(transition, actions=actions), correlation_id)
        if serve:
            await self.serve_waitlist(session, correlation_id)
        # Published events that named the account (a copy of its data) are records only now.
        await forget_published_events(session, self.service.outbox_table, [str(account_id)])
        for shipment in await repository.account_shipments(session, account_id):
            if shipment.status in FINAL:
                await self._forget_delivery(session, shipment)

    async def _forget_delivery(self, session: AsyncSession, shipment: ShipmentRow) -> None:
        """An anonymised account's parcel has arrived (or come back): the courier needs its
        name and address no longer, so they go, with the published handoff that carried them."""
        await repository.set_delivery(session, shipment.order_id, SCRUBBED)
        await forget_published_events(
            session, self.service.outbox_table, [shipment.reference, str(shipment.order_id)]
        )
        log.info("delivery details forgotten", order_id=str(shipment.order_id))

    async def account_restricted(
        self, session: AsyncSession, account_id: UUID, correlation_id: str
    ) -> None:
        """Nothing more of the account's is handed to the courier until it is lifted."""
        await privacy.restrict(session, account_id)

    async def restriction_lifted(
        self, session: AsyncSession, account_id: UUID, correlation_id: str
    ) -> None:
        """Hand over whatever was held back for the account."""
        await privacy.lift(session, account_id)
        await repository.lock_stock(session)  # stock before orders, as every step locks
        for order in await repository.lock_account_orders(session, account_id):
            await self._apply(
                session, order, order_state.restriction_lifted(order.facts), correlation_id
            )

    # --- stock -----------------------------------------------------------------------------

    async def receive_stock(
        self,
        session: AsyncSession,
        quantity: int,
        correlation_id: str,
        *,
        item: str = BADGE,
        actor: str | None = None,
        note: str | None = None,
    ) -> Balance:
        """Record stock arriving at the warehouse; badges go to whoever waits at once."""
        if item not in ITEMS:
            raise ValueError(f"dispatch keeps no stock of {item!r}")
        await repository.receive(session, quantity, item, actor=actor, note=note)
        if item == BADGE:
            # Leaflet receipts stay in dispatch's ledger: StockReceived's consumers (reporting's
            # stock figures) count badges and do not look at the item.
            await self.service.emit(
                session, StockReceived(item=item, quantity=quantity), correlation_id
            )
            await self.serve_waitlist(session, correlation_id)
        return await repository.read_stock(session, item)

    async def adjust_stock(
        self,
        session: AsyncSession,
        quantity: int,
        correlation_id: str,
        *,
        actor: str,
        note: str,
        item: str = BADGE,
    ) -> Balance:
        """A stock-take correction: badges found are served to the waitlist at once; badges
        missing are refused (StockConflict) if they are already promised to orders."""
        if item not in ITEMS:
            raise ValueError(f"dispatch keeps no stock of {item!r}")
        if item == BADGE:
            await repository.lock_stock(session)
        await repository.adjust(session, quantity, actor=actor, note=note, item=item)
        if quantity > 0 and item == BADGE:
            await self.serve_waitlist(session, correlation_id)
        return await repository.read_stock(session, item)

    async def serve_waitlist(self, session: AsyncSession, correlation_id: str) -> int:
        """Reserve for waiting orders in placement order; returns how many were reserved.

        Reads the waitlist a page at a time from its head; in strict mode it stops at the
        first order that does not fit, so a long waitlist costs nothing when stock is short.
        """
        balance = await repository.lock_stock(session)
        available = balance.available
        skip_ahead = self.settings.waitlist_partial_fills
        served = 0
        after: tuple[int, UUID] | None = None
        while available > 0:
            page = await repository.waitlist(session, after=after, limit=WAITLIST_PAGE)
            chosen = set(waitlist.select(page, available, skip_ahead=skip_ahead))
            for waiting in page:
                if waiting.order_id not in chosen:
                    continue
                order = await repository.lock_order(session, waiting.order_id)
                step = order_state.reserved_from_waitlist(order.facts)
                await self._apply(session, order, step, correlation_id)
                if Action.RESERVE in step.actions:
                    available -= waiting.quantity
                    served += 1
            stopped = not skip_ahead and len(chosen) < len(page)
            if stopped or len(page) < WAITLIST_PAGE:
                break
            after = (page[-1].placement_seq, page[-1].order_id)
        if served:
            log.info("waitlist served", reserved_orders=served)
        return served

    # --- courier ---------------------------------------------------------------------------

    async def courier_reported(
        self,
        session: AsyncSession,
        *,
        signature_digest: str,
        shipment_reference: str,
        status: ShipmentStatus,
        occurred_at: datetime,
        correlation_id: str,
    ) -> CallbackResult:
        """Apply one authenticated courier report; every fresh one is kept, known or not."""
        shipment = await repository.lock_shipment(session, shipment_reference)
        fresh = await repository.record_callback(
            session,
            signature_digest=signature_digest,
            shipment_reference=shipment_reference,
            status=status,
            known=shipment is not None,
            body={
                "shipment_reference": shipment_reference,
                "status": status,
                "occurred_at": occurred_at.isoformat(),
            },
        )
        if not fresh:
            return CallbackResult(CallbackOutcome.REPLAY)
        if shipment is None:
            return CallbackResult(CallbackOutcome.UNKNOWN_SHIPMENT)
        after = next_status(shipment.status, status)
        if after is not shipment.status:
            await repository.set_shipment_status(session, shipment_reference, after)
            order = await repository.get_order(session, shipment.order_id)
            if after in FINAL and order and await privacy.is_anonymised(session, order.account_id):
                await self._forget_delivery(session, shipment)
            if after is ShipmentStatus.DELIVERED:
                await self.service.emit(
                    session,
                    OrderDelivered(
                        order_id=shipment.order_id,
                        shipment_reference=shipment_reference,
                        delivered_at=occurred_at,
                    ),
                    correlation_id,
                )
            elif after is ShipmentStatus.RETURNED:
                # Customer services decide what happens next: a corrected address, a re-send,
                # or nothing; the badges count as stock again only when operations count them.
                log.warning("parcels returned by the courier", order_id=str(shipment.order_id))
                await self.service.emit(
                    session,
                    ParcelReturned(
                        order_id=shipment.order_id,
                        shipment_reference=shipment_reference,
                        returned_at=occurred_at,
                        parcel_count=len(shipment.parcels),
                        quantity=sum(int(p["badges"]) for p in shipment.parcels),
                    ),
                    correlation_id,
                )
        return CallbackResult(CallbackOutcome.APPLIED, after)

    # --- carrying out a transition ---------------------------------------------------------

    async def _apply(
        self, session: AsyncSession, order: OrderRow, transition: Transition, correlation_id: str
    ) -> OrderRow:
        if Action.ALLOCATE in transition.actions and await privacy.is_restricted(
            session, order.account_id
        ):
            transition = order_state.held_back(transition)
        if transition.note:
            log.info(transition.note, order_id=str(order.order_id))
        if transition.after != order.facts:
            await repository.save_facts(session, order.order_id, transition.after)
            order = replace(order, facts=transition.after)
        for action in transition.actions:
            await self._carry_out(session, order, action, correlation_id)
        return order

    async def _carry_out(
        self, session: AsyncSession, order: OrderRow, action: Action, correlation_id: str
    ) -> None:
        emit = self.service.emit
        order_id = order.order_id
        if action is Action.SCRUB_DELIVERY:
            await repository.set_delivery(session, order_id, SCRUBBED)
        elif action is Action.SERVE_WAITLIST:
            await self.serve_waitlist(session, correlation_id)
        elif action is Action.LEAVE_WAITLIST:
            # Nothing was held; the event tells the others the order no longer waits.
            await emit(session, StockReleased(order_id=order_id, quantity=0), correlation_id)
        elif action is Action.WAITLIST:
            waiting = StockWaitlisted(order_id=order_id, quantity=_quantity(order))
            await emit(session, waiting, correlation_id)
        elif action is Action.RESERVE:
            quantity = _quantity(order)
            await repository.reserve(session, order_id, quantity)
            await emit(session, StockReserved(order_id=order_id, quantity=quantity), correlation_id)
        elif action is Action.RELEASE:
            quantity = _quantity(order)
            await repository.release(session, order_id, quantity)
            await emit(session, StockReleased(order_id=order_id, quantity=quantity), correlation_id)
        elif action is Action.ALLOCATE:
            await self._allocate(session, order, correlation_id)

    async def _allocate(self, session: AsyncSession, order: OrderRow, correlation_id: str) -> None:
        """Reserved stock leaves: shipment, courier handoff and dispatch notice, all at once."""
        quantity = _quantity(order)
        if order.delivery is None or is_scrubbed(order.delivery):
            raise RuntimeError("order has no delivery address to hand to the courier")
        delivery = Delivery.model_validate(order.delivery)
        packed = parcels.split(quantity, self.settings.parcel_size)
        reference = new_reference()
        await repository.allocate(session, order.order_id, quantity)
        await repository.create_shipment(session, reference, order.order_id, packed)
        await repository.pack_leaflets(session, reference, leaflets_packed(packed))
        await self.service.emit(session, handoff(reference, delivery, packed), correlation_id)
        await self.service.emit(
            session,
            OrderDispatched(
                order_id=order.order_id,
                shipment_reference=reference,
                parcel_count=len(packed),
                quantity=quantity,
            ),
            correlation_id,
        )
        log.info("order dispatched", order_id=str(order.order_id), shipment_reference=reference)


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


def _quantity(order: OrderRow) -> int:
    if order.quantity is None:
        raise RuntimeError("stock step for an order whose placement has not arrived")
    return order.quantity
