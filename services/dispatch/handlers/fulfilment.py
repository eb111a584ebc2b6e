"""The steps that move stock and parcels, shared by the event handlers, the API and the CLI.

Each method runs inside the caller's transaction and follows the repository's locking
protocol (stock row, then order rows, then shipments), so replicas handling events about the
same stock at the same moment queue on the stock row instead of double-booking or deadlocking.
State, stock movements, ledger entries, shipments and the outbox rows of the events they cause
all commit together or not at all: a crash anywhere leaves no half-made parcel, and the
redelivered event does the whole step again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain import order_state, parcels, waitlist
from services.dispatch.domain.delivery import SCRUBBED, handoff, is_scrubbed
from services.dispatch.domain.order_state import Action, Transition
from services.dispatch.domain.shipment import ShipmentStatus, new_reference, next_status
from services.dispatch.domain.stock import BADGE, Balance
from services.dispatch.settings import DispatchSettings
from services.dispatch.store import repository
from services.dispatch.store.repository import OrderRow
from shared.events import (
    Delivery,
    OrderDelivered,
    OrderDispatched,
    OrderPlaced,
    StockReceived,
    StockReleased,
    StockReserved,
    StockWaitlisted,
)
from shared.logging import get_logger
from shared.runtime import Service

log = get_logger(__name__)


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

    def __init__(self, service: Service) -> None:
        if not isinstance(service.settings, DispatchSettings):
            raise TypeError("the dispatch steps need a service built with DispatchSettings")
        self.service = service
        self.settings: DispatchSettings = service.settings

    # --- events about orders ---------------------------------------------------------------

    async def order_placed(
        self, session: AsyncSession, event: OrderPlaced, correlation_id: str
    ) -> None:
        """Reserve stock for a new order in placement order, or put it on the waitlist."""
        balance = await repository.lock_stock(session)
        order = await repository.lock_order(session, event.order_id)
        if order.facts.placed:
            log.info("placement already seen")
            return
        order = await repository.record_placement(
            session,
            event.order_id,
            account_id=event.account_id,
            placement_seq=event.placement_seq,
            quantity=event.quantity,
            delivery=event.delivery.model_dump(),
        )
        if await repository.is_anonymised(session, event.account_id):
            # AccountAnonymised overtook this event: the order arrives closed and scrubbed.
            order = await self._apply(
                session, order, order_state.anonymised(order.facts), correlation_id
            )
        earlier = await repository.earlier_waitlisted(session, event.placement_seq)
        can_reserve = waitlist.can_reserve_on_arrival(
            event.quantity,
            balance.available,
            earlier_waiting=earlier,
            skip_ahead=self.settings.waitlist_partial_fills,
        )
        await self._apply(
            session, order, order_state.placed(order.facts, can_reserve=can_reserve), correlation_id
        )

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
        self, session: AsyncSession, order_id: UUID, delivery: Delivery
    ) -> None:
        """Customer services corrected the address: used if the parcel has not left yet."""
        order = await repository.lock_order(session, order_id)
        if order.facts.state is order_state.State.ALLOCATED:
            log.warning("delivery address changed after hand-over to the courier: not applied")
        elif order.facts.closed:
            log.info("delivery address changed for a closed order: not kept")
        else:
            await repository.set_delivery(session, order_id, delivery.model_dump())

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

    # --- stock -----------------------------------------------------------------------------

    async def receive_stock(
        self, session: AsyncSession, quantity: int, correlation_id: str
    ) -> Balance:
        """Record badges arriving at the warehouse and hand them to whoever waits."""
        await repository.receive(session, quantity)
        await self.service.emit(
            session, StockReceived(item=BADGE, quantity=quantity), correlation_id
        )
        await self.serve_waitlist(session, correlation_id)
        return await repository.read_stock(session)

    async def serve_waitlist(self, session: AsyncSession, correlation_id: str) -> int:
        """Reserve for waiting orders in placement order; returns how many were reserved."""
        balance = await repository.lock_stock(session)
        chosen = waitlist.select(
            await repository.waitlist(session),
            balance.available,
            skip_ahead=self.settings.waitlist_partial_fills,
        )
        for order_id in chosen:
            order = await repository.lock_order(session, order_id)
            await self._apply(
                session, order, order_state.reserved_from_waitlist(order.facts), correlation_id
            )
        if chosen:
            log.info("waitlist served", reserved_orders=len(chosen))
        return len(chosen)

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
        return CallbackResult(CallbackOutcome.APPLIED, after)

    # --- carrying out a transition ---------------------------------------------------------

    async def _apply(
        self, session: AsyncSession, order: OrderRow, transition: Transition, correlation_id: str
    ) -> OrderRow:
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


def _quantity(order: OrderRow) -> int:
    if order.quantity is None:
        raise RuntimeError("stock step for an order whose placement has not arrived")
    return order.quantity
