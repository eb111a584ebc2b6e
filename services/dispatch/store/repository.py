"""Queries dispatch runs; every function takes the caller's session (its unit of work).

Locking protocol, so competing replicas neither double-book nor deadlock: a transaction that
may move stock locks the stock row first (:func:`lock_stock`), then order rows, then shipment
rows. Every stock update is also conditional on the balance allowing it, and the database's
CHECK constraints and the ledger's unique (order, kind) index refuse what slips past both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.order_state import OrderFacts, State
from services.dispatch.domain.shipment import ShipmentStatus
from services.dispatch.domain.stock import BADGE, Balance, LedgerKind, balance_from_ledger
from services.dispatch.domain.waitlist import Waiting
from services.dispatch.store.tables import (
    anonymised_accounts,
    courier_callbacks,
    dispatch_orders,
    shipments,
    stock,
    stock_ledger,
)
from shared.events import Parcel


class StockConflict(Exception):
    """A stock movement the balance does not allow: a bug upstream, never a normal outcome."""


# --- stock -----------------------------------------------------------------------------------


async def lock_stock(session: AsyncSession, item: str = BADGE) -> Balance:
    """Lock the item's balance row for this transaction (creating it at zero if new)."""
    await session.execute(insert(stock).values(item=item).on_conflict_do_nothing())
    row = (
        await session.execute(select(stock).where(stock.c.item == item).with_for_update())
    ).one()
    return Balance(row.received, row.reserved, row.allocated)


async def read_stock(session: AsyncSession, item: str = BADGE) -> Balance:
    """The balance as last committed, without waiting for anyone's lock."""
    row = (await session.execute(select(stock).where(stock.c.item == item))).first()
    return Balance(row.received, row.reserved, row.allocated) if row else Balance()


async def _move(
    session: AsyncSession,
    item: str,
    kind: LedgerKind,
    quantity: int,
    order_id: UUID | None,
    allowed: ColumnElement[bool] | None,
    **changes: Any,
) -> None:
    """Apply one movement to the balance, if ``allowed`` holds, and record it in the ledger."""
    where = stock.c.item == item if allowed is None else and_(stock.c.item == item, allowed)
    result = await session.execute(
        update(stock).where(where).values(**changes).returning(stock.c.item)
    )
    if result.first() is None:
        raise StockConflict(f"{kind} of {quantity} {item} refused by the balance")
    await session.execute(
        stock_ledger.insert().values(item=item, kind=kind, quantity=quantity, order_id=order_id)
    )


async def receive(session: AsyncSession, quantity: int, item: str = BADGE) -> None:
    """Stock arrived at the warehouse."""
    await lock_stock(session, item)
    await _move(
        session,
        item,
        LedgerKind.RECEIPT,
        quantity,
        None,
        None,
        received=stock.c.received + quantity,
    )


async def reserve(
    session: AsyncSession, order_id: UUID, quantity: int, item: str = BADGE
) -> None:
    """Set stock aside for an order; refused unless that much is available."""
    await _move(
        session,
        item,
        LedgerKind.RESERVATION,
        quantity,
        order_id,
        stock.c.received - stock.c.reserved - stock.c.allocated >= quantity,
        reserved=stock.c.reserved + quantity,
    )


async def release(
    session: AsyncSession, order_id: UUID, quantity: int, item: str = BADGE
) -> None:
    """Give an order's reservation back."""
    await _move(
        session,
        item,
        LedgerKind.RELEASE,
        quantity,
        order_id,
        stock.c.reserved >= quantity,
        reserved=stock.c.reserved - quantity,
    )


async def allocate(
    session: AsyncSession, order_id: UUID, quantity: int, item: str = BADGE
) -> None:
    """Turn an order's reservation into stock that has left for the courier."""
    await _move(
        session,
        item,
        LedgerKind.ALLOCATION,
        quantity,
        order_id,
        stock.c.reserved >= quantity,
        reserved=stock.c.reserved - quantity,
        allocated=stock.c.allocated + quantity,
    )


@dataclass(frozen=True)
class LedgerCheck:
    balance: Balance
    ledger: Balance

    @property
    def consistent(self) -> bool:
        return self.balance == self.ledger


async def check_ledger(session: AsyncSession, item: str = BADGE) -> LedgerCheck:
    """Compare the balance row with what the ledger adds up to."""
    totals = await session.execute(
        select(stock_ledger.c.kind, func.sum(stock_ledger.c.quantity))
        .where(stock_ledger.c.item == item)
        .group_by(stock_ledger.c.kind)
    )
    ledger = balance_from_ledger({LedgerKind(kind): int(total) for kind, total in totals})
    return LedgerCheck(balance=await read_stock(session, item), ledger=ledger)


# --- orders ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRow:
    order_id: UUID
    account_id: UUID | None
    placement_seq: int | None
    quantity: int | None
    delivery: dict[str, Any] | None
    facts: OrderFacts


def _order(row: Any) -> OrderRow:
    return OrderRow(
        order_id=row.order_id,
        account_id=row.account_id,
        placement_seq=row.placement_seq,
        quantity=row.quantity,
        delivery=row.delivery,
        facts=OrderFacts(
            state=State(row.state),
            placed=row.placed,
            verified=row.verified,
            closed=row.closed,
        ),
    )


async def lock_order(session: AsyncSession, order_id: UUID) -> OrderRow:
    """The order's row, locked; created empty if this is the first event about it."""
    await session.execute(
        insert(dispatch_orders).values(order_id=order_id).on_conflict_do_nothing()
    )
    row = (
        await session.execute(
            select(dispatch_orders)
            .where(dispatch_orders.c.order_id == order_id)
            .with_for_update()
        )
    ).one()
    return _order(row)


async def get_order(session: AsyncSession, order_id: UUID) -> OrderRow | None:
    """The order as last committed (for operations' checks and tests), or None if unknown."""
    row = (
        await session.execute(select(dispatch_orders).where(dispatch_orders.c.order_id == order_id))
    ).first()
    return _order(row) if row else None


async def record_placement(
    session: AsyncSession,
    order_id: UUID,
    *,
    account_id: UUID,
    placement_seq: int,
    quantity: int,
    delivery: dict[str, Any],
) -> OrderRow:
    """Store what OrderPlaced says; a delivery already corrected by customer services stays."""
    row = (
        await session.execute(
            update(dispatch_orders)
            .where(dispatch_orders.c.order_id == order_id)
            .values(
                account_id=account_id,
                placement_seq=placement_seq,
                quantity=quantity,
                delivery=func.coalesce(dispatch_orders.c.delivery, literal(delivery, JSONB)),
                updated_at=func.now(),
            )
            .returning(*dispatch_orders.c)
        )
    ).one()
    return _order(row)


async def save_facts(session: AsyncSession, order_id: UUID, facts: OrderFacts) -> None:
    await session.execute(
        update(dispatch_orders)
        .where(dispatch_orders.c.order_id == order_id)
        .values(
            state=facts.state,
            placed=facts.placed,
            verified=facts.verified,
            closed=facts.closed,
            updated_at=func.now(),
        )
    )


async def set_delivery(session: AsyncSession, order_id: UUID, delivery: dict[str, Any]) -> None:
    await session.execute(
        update(dispatch_orders)
        .where(dispatch_orders.c.order_id == order_id)
        .values(delivery=delivery, updated_at=func.now())
    )


_WAITING = and_(dispatch_orders.c.state == State.WAITLISTED, ~dispatch_orders.c.closed)


async def earlier_waitlisted(session: AsyncSession, placement_seq: int) -> bool:
    """Whether an order placed before ``placement_seq`` is waiting for stock."""
    query = select(
        exists().where(_WAITING, dispatch_orders.c.placement_seq < placement_seq)
    )
    return bool((await session.execute(query)).scalar())


async def waitlist(session: AsyncSession) -> list[Waiting]:
    """Every waiting order, in placement order (the order it is served in)."""
    rows = await session.execute(
        select(dispatch_orders.c.order_id, dispatch_orders.c.quantity)
        .where(_WAITING)
        .order_by(dispatch_orders.c.placement_seq)
    )
    return [Waiting(order_id=r.order_id, quantity=r.quantity) for r in rows]


async def waitlisted_count(session: AsyncSession) -> int:
    count = await session.scalar(select(func.count()).where(_WAITING))
    return int(count or 0)


async def lock_account_orders(session: AsyncSession, account_id: UUID) -> list[OrderRow]:
    rows = await session.execute(
        select(dispatch_orders)
        .where(dispatch_orders.c.account_id == account_id)
        .order_by(dispatch_orders.c.placement_seq)
        .with_for_update()
    )
    return [_order(r) for r in rows]


async def remember_anonymised(session: AsyncSession, account_id: UUID) -> None:
    await session.execute(
        insert(anonymised_accounts).values(account_id=account_id).on_conflict_do_nothing()
    )


async def is_anonymised(session: AsyncSession, account_id: UUID) -> bool:
    query = select(exists().where(anonymised_accounts.c.account_id == account_id))
    return bool((await session.execute(query)).scalar())


# --- shipments and courier callbacks ---------------------------------------------------------


@dataclass(frozen=True)
class ShipmentRow:
    reference: str
    order_id: UUID
    status: ShipmentStatus
    parcels: list[dict[str, Any]]


async def create_shipment(
    session: AsyncSession, reference: str, order_id: UUID, parcels: Sequence[Parcel]
) -> None:
    await session.execute(
        shipments.insert().values(
            reference=reference,
            order_id=order_id,
            parcels=[p.model_dump() for p in parcels],
            status=ShipmentStatus.HANDED_OVER,
        )
    )


def _shipment(row: Any) -> ShipmentRow:
    return ShipmentRow(row.reference, row.order_id, ShipmentStatus(row.status), row.parcels)


async def lock_shipment(session: AsyncSession, reference: str) -> ShipmentRow | None:
    row = (
        await session.execute(
            select(shipments).where(shipments.c.reference == reference).with_for_update()
        )
    ).first()
    return _shipment(row) if row else None


async def shipment_for_order(session: AsyncSession, order_id: UUID) -> ShipmentRow | None:
    """The order's shipment, if it has one (for operations' checks and tests)."""
    row = (
        await session.execute(select(shipments).where(shipments.c.order_id == order_id))
    ).first()
    return _shipment(row) if row else None


async def set_shipment_status(
    session: AsyncSession, reference: str, status: ShipmentStatus
) -> None:
    await session.execute(
        update(shipments)
        .where(shipments.c.reference == reference)
        .values(status=status, updated_at=func.now())
    )


async def record_callback(
    session: AsyncSession,
    *,
    signature_digest: str,
    shipment_reference: str,
    status: str,
    known: bool,
    body: dict[str, Any],
) -> bool:
    """Keep a courier callback; False if one with the same signature was kept before."""
    result = await session.execute(
        insert(courier_callbacks)
        .values(
            signature_digest=signature_digest,
            shipment_reference=shipment_reference,
            status=status,
            known=known,
            body=body,
        )
        .on_conflict_do_nothing(index_elements=["signature_digest"])
        .returning(courier_callbacks.c.id)
    )
    return result.first() is not None
