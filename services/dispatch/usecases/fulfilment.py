"""Carrying out an order's transitions: the stock, shipments and events that each action of
the state machine (:mod:`services.dispatch.domain.order_state`) means, and serving the
waitlist whenever stock or a place in it frees up.

Every use case that moves an order goes through :meth:`Fulfilment.apply`, inside the caller's
transaction and holding the stock lock. State, stock movements, ledger entries, shipments and
the outbox rows of the events they cause all commit together or not at all: a crash anywhere
leaves no half-made parcel, and the redelivered event does the whole step again.
"""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain import order_state, parcels, waitlist
from services.dispatch.domain.delivery import SCRUBBED, handoff, is_scrubbed
from services.dispatch.domain.order_state import Action, Transition
from services.dispatch.domain.shipment import new_reference
from services.dispatch.domain.stock import leaflets_packed
from services.dispatch.store import allocations, ledger, orders, placements, privacy
from services.dispatch.store.orders import OrderRow
from services.dispatch.store.shipments import ShipmentRow
from services.dispatch.usecases import settings_of
from shared.events import (
    Delivery,
    OrderDispatched,
    StockReleased,
    StockReserved,
    StockWaitlisted,
)
from shared.logging import get_logger
from shared.runtime import Service

log = get_logger(__name__)

#: Waiting orders read at once when serving the waitlist.
WAITLIST_PAGE = 500


class Fulfilment:
    """The steps every order-moving use case shares, over one service's database and outbox."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.settings = settings_of(service)

    async def apply(
        self,
        session: AsyncSession,
        order: OrderRow,
        transition: Transition,
        correlation_id: str,
        *,
        restricted: bool | None = None,
    ) -> OrderRow:
        """Save what the transition leaves the order knowing and carry out its actions, in
        order; an account's restriction holds back a hand-over. Returns the order after.

        ``restricted`` is whether the order's account is restricted, when the caller read it
        with the order's lock (:func:`orders.lock_order_to_decide`); None reads it here if
        the transition would hand the order over.
        """
        if Action.ALLOCATE in transition.actions:
            if restricted is None:
                restricted = await privacy.is_restricted(session, order.account_id)
            if restricted:
                transition = order_state.held_back(transition)
        if transition.note:
            log.info(transition.note, order_id=str(order.order_id))
        if transition.after != order.facts:
            order = replace(order, facts=transition.after)
            if not _saved_by_allocation(transition):
                await orders.save_facts(session, order.order_id, transition.after)
        actions = transition.actions
        if actions[:2] == (Action.RESERVE, Action.ALLOCATE):
            # Reserved and handed over in one step: one statement, and the dispatch says what
            # it reserved rather than a StockReserved of its own (ADR 0054, "Eighth step").
            await self._allocate(session, order, correlation_id, reserve_first=True)
            actions = actions[2:]
        for action in actions:
            await self._carry_out(session, order, action, correlation_id)
        return order

    async def serve_waitlist(self, session: AsyncSession, correlation_id: str) -> int:
        """Reserve for waiting orders in placement order; returns how many were reserved.

        Reads the waitlist a page at a time from its head; in strict mode it stops at the
        first order that does not fit, so a long waitlist costs nothing when stock is short.
        """
        balance = await ledger.lock_stock(session)
        available = balance.available
        skip_ahead = self.settings.waitlist_partial_fills
        served = 0
        after: tuple[int, UUID] | None = None
        while available > 0:
            page = await placements.waitlist(session, after=after, limit=WAITLIST_PAGE)
            chosen = set(waitlist.select(page, available, skip_ahead=skip_ahead))
            for waiting in page:
                if waiting.order_id not in chosen:
                    continue
                order = await orders.lock_order(session, waiting.order_id)
                step = order_state.reserved_from_waitlist(order.facts)
                await self.apply(session, order, step, correlation_id)
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

    async def forget_delivery(self, session: AsyncSession, shipment: ShipmentRow) -> None:
        """An anonymised account's parcel has arrived (or come back): the courier needs its
        name and address no longer, so they go, with the published handoff that carried them."""
        await orders.set_delivery(session, shipment.order_id, SCRUBBED)
        await self.service.forget_published(session, [shipment.reference, str(shipment.order_id)])
        log.info("delivery details forgotten", order_id=str(shipment.order_id))

    async def _carry_out(
        self, session: AsyncSession, order: OrderRow, action: Action, correlation_id: str
    ) -> None:
        emit = self.service.emit
        order_id = order.order_id
        if action is Action.SCRUB_DELIVERY:
            await orders.set_delivery(session, order_id, SCRUBBED)
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
            await ledger.reserve(session, order_id, quantity)
            await emit(session, StockReserved(order_id=order_id, quantity=quantity), correlation_id)
        elif action is Action.RELEASE:
            quantity = _quantity(order)
            await ledger.release(session, order_id, quantity)
            await emit(session, StockReleased(order_id=order_id, quantity=quantity), correlation_id)
        elif action is Action.ALLOCATE:
            await self._allocate(session, order, correlation_id)

    async def _allocate(
        self,
        session: AsyncSession,
        order: OrderRow,
        correlation_id: str,
        *,
        reserve_first: bool = False,
    ) -> None:
        """Reserved stock leaves: shipment, courier handoff and dispatch notice, all at once.

        One statement moves the badges (``reserve_first``: reserves them too), makes the
        shipment, takes the leaflets, writes their ledger entries, saves ``order.facts`` (the
        state the transition left it in) and writes the handoff and the dispatch notice,
        emitted first for it to carry (with any event emitted before them). Refused, it
        raises and the transaction rolls back, events and all."""
        quantity = _quantity(order)
        if order.delivery is None or is_scrubbed(order.delivery):
            raise RuntimeError("order has no delivery address to hand to the courier")
        delivery = Delivery.model_validate(order.delivery)
        packed = parcels.split(quantity, self.settings.parcel_size)
        reference = new_reference()
        dispatched = OrderDispatched(
            order_id=order.order_id,
            shipment_reference=reference,
            parcel_count=len(packed),
            quantity=quantity,
            reserved_with_dispatch=quantity if reserve_first else 0,
        )
        await self.service.emit(session, handoff(reference, delivery, packed), correlation_id)
        await self.service.emit(session, dispatched, correlation_id)
        await allocations.allocate_and_ship(
            session,
            order.order_id,
            quantity,
            order.facts,
            reference=reference,
            parcels=packed,
            leaflets=leaflets_packed(packed),
            reserve_first=reserve_first,
        )
        log.info("order dispatched", order_id=str(order.order_id), shipment_reference=reference)


def _saved_by_allocation(transition: Transition) -> bool:
    """Whether the transition's allocation saves the order's facts (in its one statement).

    Only when nothing before it reads the order's saved state: serving the waitlist does
    (an order closed in the same step must not be served), and no step that allocates
    serves it (:mod:`order_state`), but a future one would save first."""
    actions = transition.actions
    return Action.ALLOCATE in actions and Action.SERVE_WAITLIST not in actions


def _quantity(order: OrderRow) -> int:
    if order.quantity is None:
        raise RuntimeError("stock step for an order whose placement has not arrived")
    return order.quantity
