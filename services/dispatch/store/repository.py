"""Queries dispatch runs; every function takes the caller's session (its unit of work).

Locking protocol, so competing replicas neither double-book nor deadlock: a transaction that
may move stock locks the badge stock row first (:func:`lock_stock`), then order rows, then
shipment rows, then leaflet stock rows. Recording a placement locks only its own order row and
takes nothing after it. Every stock update is also conditional on the balance allowing it,
and the database's CHECK constraints and the ledger's unique (order, kind, round) index
refuse what slips past both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    TextClause,
    Uuid,
    and_,
    bindparam,
    func,
    literal,
    select,
    text,
    tuple_,
    update,
)
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


# The statements on the reservation path are built once and run with parameters: every
# placement takes the stock row's lock, so what it costs is paid by every placement queued
# behind it (bench/reservations.py measures it).

# --- stock -----------------------------------------------------------------------------------

_LOCK_STOCK = select(stock).where(stock.c.item == bindparam("item")).with_for_update()


def _balance(row: Any) -> Balance:
    return Balance(int(row.received), int(row.reserved), int(row.allocated))


async def lock_stock(session: AsyncSession, item: str = BADGE) -> Balance:
    """Lock the item's balance row for this transaction (creating it at zero if new)."""
    row = (await session.execute(_LOCK_STOCK, {"item": item})).first()
    if row is None:
        await session.execute(insert(stock).values(item=item).on_conflict_do_nothing())
        row = (await session.execute(_LOCK_STOCK, {"item": item})).one()
    return _balance(row)


async def read_stock(session: AsyncSession, item: str = BADGE) -> Balance:
    """The balance as last committed, without waiting for anyone's lock."""
    row = (await session.execute(select(stock).where(stock.c.item == item))).first()
    return _balance(row) if row else Balance()


def _movement(kind: LedgerKind, change: str, allowed: str) -> TextClause:
    """One statement that moves the balance, if ``allowed`` holds, and records it in the ledger.

    The round is the order's releases so far plus one (see ``stock_ledger.round``); no row
    comes back when the balance refuses the movement.
    """
    return text(
        f"""
        WITH moved AS (
            UPDATE stock SET {change}
            WHERE item = :item AND ({allowed})
            RETURNING item
        )
        INSERT INTO stock_ledger (item, kind, quantity, order_id, actor, note, round)
        SELECT moved.item, '{kind.value}', :quantity, :order_id, :actor, :note,
               CASE WHEN CAST(:order_id AS uuid) IS NULL THEN 1 ELSE (
                   SELECT count(*) + 1 FROM stock_ledger AS l
                   WHERE l.order_id = :order_id AND l.kind = 'release'
               ) END
        FROM moved
        RETURNING id
        """  # noqa: S608 - fixed fragments from this module, never input
    ).bindparams(bindparam("order_id", type_=Uuid()))


_AVAILABLE = "received - reserved - allocated"
_MOVEMENTS = {
    LedgerKind.RECEIPT: _movement(LedgerKind.RECEIPT, "received = received + :quantity", "true"),
    LedgerKind.RESERVATION: _movement(
        LedgerKind.RESERVATION,
        "reserved = reserved + :quantity",
        f"{_AVAILABLE} >= :quantity",
    ),
    LedgerKind.RELEASE: _movement(
        LedgerKind.RELEASE, "reserved = reserved - :quantity", "reserved >= :quantity"
    ),
    LedgerKind.ALLOCATION: _movement(
        LedgerKind.ALLOCATION,
        "reserved = reserved - :quantity, allocated = allocated + :quantity",
        "reserved >= :quantity",
    ),
    # A stock-take correction of what was received; may not make promised stock disappear.
    LedgerKind.ADJUSTMENT: _movement(
        LedgerKind.ADJUSTMENT,
        "received = received + :quantity",
        f"{_AVAILABLE} + :quantity >= 0",
    ),
}


async def _move(
    session: AsyncSession,
    kind: LedgerKind,
    quantity: int,
    order_id: UUID | None,
    item: str,
    *,
    actor: str | None = None,
    note: str | None = None,
) -> None:
    params = {
        "item": item,
        "quantity": quantity,
        "order_id": order_id,
        "actor": actor,
        "note": note,
    }
    if (await session.execute(_MOVEMENTS[kind], params)).first() is None:
        raise StockConflict(f"{kind} of {quantity} {item} refused by the balance")


async def receive(
    session: AsyncSession,
    quantity: int,
    item: str = BADGE,
    *,
    actor: str | None = None,
    note: str | None = None,
) -> None:
    """Stock arrived at the warehouse."""
    await lock_stock(session, item)
    await _move(session, LedgerKind.RECEIPT, quantity, None, item, actor=actor, note=note)


async def adjust(
    session: AsyncSession, quantity: int, *, actor: str, note: str, item: str = BADGE
) -> None:
    """A stock-take found ``quantity`` more (or, negative, fewer) than was recorded received.

    Refused (:class:`StockConflict`) if it would take away stock already promised to orders.
    """
    await lock_stock(session, item)
    await _move(session, LedgerKind.ADJUSTMENT, quantity, None, item, actor=actor, note=note)


_RESERVE_TOTAL = text(
    f"""
    UPDATE stock SET reserved = reserved + :total
    WHERE item = :item AND {_AVAILABLE} >= :total
    RETURNING item
    """  # noqa: S608 - a fixed fragment from this module
)
_LEDGER_RESERVATION = text(
    """
    INSERT INTO stock_ledger (item, kind, quantity, order_id, round)
    VALUES (:item, 'reservation', :quantity, :order_id, (
        SELECT count(*) + 1 FROM stock_ledger AS l
        WHERE l.order_id = :order_id AND l.kind = 'release'
    ))
    """
).bindparams(bindparam("order_id", type_=Uuid()))


_PACK_LEAFLETS = text(
    """
    WITH moved AS (
        INSERT INTO stock (item, allocated) VALUES (:item, :quantity)
        ON CONFLICT (item) DO UPDATE SET allocated = stock.allocated + excluded.allocated
        RETURNING item
    )
    INSERT INTO stock_ledger (item, kind, quantity, note)
    SELECT moved.item, 'allocation', :quantity, :note FROM moved
    """
)


def packed_note(shipment_reference: str) -> str:
    """How a leaflet entry names the shipment that took the leaflets."""
    return f"shipment {shipment_reference}"


async def pack_leaflets(
    session: AsyncSession, shipment_reference: str, packed: dict[str, int]
) -> None:
    """Leaflets leave with a shipment's parcels: counted, never refused (ADR 0013).

    The entries name the shipment, not the order: leaflets are never held for an order, and
    a shipment is made once per order (``shipments.order_id`` is unique), so the per-order
    ledger (reserved, released, allocated badges) stays exactly what it was. Locks the
    leaflet rows after the badge row, as every allocation does, in a fixed order.
    """
    for item in sorted(packed):
        if packed[item] > 0:
            await session.execute(
                _PACK_LEAFLETS,
                {
                    "item": item,
                    "quantity": packed[item],
                    "note": packed_note(shipment_reference),
                },
            )


async def reserve_many(
    session: AsyncSession, reservations: Sequence[tuple[UUID, int]], item: str = BADGE
) -> None:
    """Reserve for several orders at once: one balance update, one ledger entry each.

    Refused as a whole (:class:`StockConflict`) unless their total is available."""
    total = sum(quantity for _, quantity in reservations)
    moved = await session.execute(_RESERVE_TOTAL, {"item": item, "total": total})
    if moved.first() is None:
        raise StockConflict(f"reservation of {total} {item} refused by the balance")
    await session.execute(
        _LEDGER_RESERVATION,
        [{"item": item, "quantity": q, "order_id": order_id} for order_id, q in reservations],
    )


async def reserve(
    session: AsyncSession, order_id: UUID, quantity: int, item: str = BADGE
) -> None:
    """Set stock aside for an order; refused unless that much is available."""
    await _move(session, LedgerKind.RESERVATION, quantity, order_id, item)


async def release(
    session: AsyncSession, order_id: UUID, quantity: int, item: str = BADGE
) -> None:
    """Give an order's reservation back."""
    await _move(session, LedgerKind.RELEASE, quantity, order_id, item)


async def allocate(
    session: AsyncSession, order_id: UUID, quantity: int, item: str = BADGE
) -> None:
    """Turn an order's reservation into stock that has left for the courier."""
    await _move(session, LedgerKind.ALLOCATION, quantity, order_id, item)


@dataclass(frozen=True)
class LedgerCheck:
    balance: Balance
    ledger: Balance
    #: Orders whose own ledger entries disagree with their state (held stock while waiting,
    #: allocated twice, ...): always 0.
    orders_out_of_step: int = 0

    @property
    def consistent(self) -> bool:
        return self.balance == self.ledger and self.orders_out_of_step == 0


_ORDERS_OUT_OF_STEP = text(
    """
    SELECT count(*) FROM (
        SELECT o.state, o.quantity,
               coalesce(sum(l.quantity) FILTER (WHERE l.kind = 'reservation'), 0)
             - coalesce(sum(l.quantity) FILTER (WHERE l.kind = 'release'), 0)
             - coalesce(sum(l.quantity) FILTER (WHERE l.kind = 'allocation'), 0) AS held,
               coalesce(sum(l.quantity) FILTER (WHERE l.kind = 'allocation'), 0) AS sent
        FROM dispatch_orders AS o
        LEFT JOIN stock_ledger AS l ON l.order_id = o.order_id AND l.item = :item
        GROUP BY o.order_id
    ) AS per_order
    WHERE held <> CASE WHEN state = 'reserved' THEN quantity ELSE 0 END
       OR sent <> CASE WHEN state = 'allocated' THEN quantity ELSE 0 END
    """
)


async def check_ledger(session: AsyncSession, item: str = BADGE) -> LedgerCheck:
    """Compare the balance row (and, for badges, every order's state) with the ledger."""
    totals = await session.execute(
        select(stock_ledger.c.kind, func.sum(stock_ledger.c.quantity))
        .where(stock_ledger.c.item == item)
        .group_by(stock_ledger.c.kind)
    )
    ledger = balance_from_ledger(
        {LedgerKind(kind): int(total) for kind, total in totals}, rationed=item == BADGE
    )
    out_of_step = (
        await session.scalar(_ORDERS_OUT_OF_STEP, {"item": item}) if item == BADGE else 0
    )
    return LedgerCheck(
        balance=await read_stock(session, item),
        ledger=ledger,
        orders_out_of_step=int(out_of_step or 0),
    )


# --- orders ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRow:
    order_id: UUID
    account_id: UUID | None
    placement_seq: int | None
    quantity: int | None
    delivery: dict[str, Any] | None
    facts: OrderFacts
    #: The correlation id OrderPlaced carried (None until it arrives).
    correlation_id: str | None = None


def _order(row: Any) -> OrderRow:
    return OrderRow(
        order_id=row.order_id,
        account_id=row.account_id,
        placement_seq=row.placement_seq,
        quantity=row.quantity,
        delivery=row.delivery,
        correlation_id=row.correlation_id,
        facts=OrderFacts(
            state=State(row.state),
            placed=row.placed,
            verified=row.verified,
            closed=row.closed,
        ),
    )


_LOCK_ORDER = (
    select(dispatch_orders)
    .where(dispatch_orders.c.order_id == bindparam("order_id"))
    .with_for_update()
)


async def lock_order(session: AsyncSession, order_id: UUID) -> OrderRow:
    """The order's row, locked; created empty if this is the first event about it."""
    row = (await session.execute(_LOCK_ORDER, {"order_id": order_id})).first()
    if row is None:
        await session.execute(
            insert(dispatch_orders).values(order_id=order_id).on_conflict_do_nothing()
        )
        row = (await session.execute(_LOCK_ORDER, {"order_id": order_id})).one()
    return _order(row)


async def get_order(session: AsyncSession, order_id: UUID) -> OrderRow | None:
    """The order as last committed (for operations' checks and tests), or None if unknown."""
    row = (
        await session.execute(select(dispatch_orders).where(dispatch_orders.c.order_id == order_id))
    ).first()
    return _order(row) if row else None


_RECORD_PLACEMENT = text(
    """
    INSERT INTO dispatch_orders AS o
        (order_id, account_id, placement_seq, quantity, delivery, correlation_id)
    VALUES (:order_id, :account_id, :placement_seq, :quantity, :delivery, :correlation_id)
    ON CONFLICT (order_id) DO UPDATE SET
        account_id = excluded.account_id,
        placement_seq = excluded.placement_seq,
        quantity = excluded.quantity,
        delivery = coalesce(o.delivery, excluded.delivery),
        correlation_id = excluded.correlation_id,
        updated_at = now()
    WHERE o.placement_seq IS NULL
    RETURNING o.order_id
    """
).bindparams(
    bindparam("order_id", type_=Uuid()),
    bindparam("account_id", type_=Uuid()),
    bindparam("delivery", type_=JSONB()),
)


async def record_placement(
    session: AsyncSession,
    order_id: UUID,
    *,
    account_id: UUID,
    placement_seq: int,
    quantity: int,
    delivery: dict[str, Any],
    correlation_id: str,
) -> bool:
    """Store what OrderPlaced says, for the allocator to decide; False if it was stored
    before. A delivery already corrected by customer services stays. Takes no stock lock."""
    row = (
        await session.execute(
            _RECORD_PLACEMENT,
            {
                "order_id": order_id,
                "account_id": account_id,
                "placement_seq": placement_seq,
                "quantity": quantity,
                "delivery": delivery,
                "correlation_id": correlation_id[:64],
            },
        )
    ).first()
    return row is not None


@dataclass(frozen=True)
class Undecided:
    """A recorded placement the allocator has not decided yet."""

    order: OrderRow
    #: Its account was anonymised (before or after the placement arrived).
    anonymised: bool


#: Failed decisions after which the allocator leaves a placement aside (see the gauge).
DECISION_ATTEMPTS = 5

_UNDECIDED = and_(
    dispatch_orders.c.placement_seq.is_not(None),
    ~dispatch_orders.c.placed,
)


async def lock_undecided(
    session: AsyncSession, limit: int, *, only: UUID | None = None
) -> list[Undecided]:
    """The earliest-placed undecided placements, locked; call it holding the stock lock."""
    anonymised = (
        select(anonymised_accounts.c.account_id)
        .where(anonymised_accounts.c.account_id == dispatch_orders.c.account_id)
        .exists()
        .label("anonymised")
    )
    query = (
        select(dispatch_orders, anonymised)
        .where(_UNDECIDED, dispatch_orders.c.decision_attempts < DECISION_ATTEMPTS)
        .order_by(dispatch_orders.c.placement_seq, dispatch_orders.c.order_id)
        .limit(limit)
        .with_for_update(of=dispatch_orders)
    )
    if only is not None:
        query = query.where(dispatch_orders.c.order_id == only)
    return [Undecided(_order(r), bool(r.anonymised)) for r in await session.execute(query)]


async def any_undecided(session: AsyncSession) -> bool:
    """Whether any placement waits for the allocator (no lock: a cheap look before taking one)."""
    query = select(dispatch_orders.c.order_id).where(
        _UNDECIDED, dispatch_orders.c.decision_attempts < DECISION_ATTEMPTS
    )
    return (await session.execute(query.limit(1))).first() is not None


async def undecided_ids(session: AsyncSession, limit: int) -> list[UUID]:
    """Ids of the earliest undecided placements, without locking (to retry one by one)."""
    rows = await session.execute(
        select(dispatch_orders.c.order_id)
        .where(_UNDECIDED, dispatch_orders.c.decision_attempts < DECISION_ATTEMPTS)
        .order_by(dispatch_orders.c.placement_seq, dispatch_orders.c.order_id)
        .limit(limit)
    )
    return [r.order_id for r in rows]


async def note_failed_decision(session: AsyncSession, order_id: UUID) -> int:
    """Count a failed attempt to decide a placement; returns the attempts so far."""
    attempts = await session.scalar(
        update(dispatch_orders)
        .where(dispatch_orders.c.order_id == order_id)
        .values(decision_attempts=dispatch_orders.c.decision_attempts + 1)
        .returning(dispatch_orders.c.decision_attempts)
    )
    return int(attempts or 0)


@dataclass(frozen=True)
class UndecidedCount:
    #: Recorded, waiting for the allocator.
    pending: int
    #: Left aside after repeated failures: a bug to investigate, like a dead letter.
    parked: int


async def undecided_count(session: AsyncSession) -> UndecidedCount:
    parked = dispatch_orders.c.decision_attempts >= DECISION_ATTEMPTS
    pending, stuck = (
        await session.execute(
            select(
                func.count().filter(~parked),
                func.count().filter(parked),
            ).where(_UNDECIDED)
        )
    ).one()
    return UndecidedCount(int(pending), int(stuck))


_PLACEMENT_CONTEXT = text(
    """
    SELECT s.received, s.reserved, s.allocated,
        EXISTS (
            SELECT 1 FROM dispatch_orders AS w
            WHERE w.state = 'waitlisted' AND NOT w.closed AND w.placement_seq < :placement_seq
        ) AS earlier_waiting
    FROM stock AS s WHERE s.item = :item
    """
)


_DECISION_CONTEXT = text(
    f"""
    SELECT {_AVAILABLE} AS available,
        (SELECT min(w.placement_seq) FROM dispatch_orders AS w
         WHERE w.state = 'waitlisted' AND NOT w.closed) AS first_waiting
    FROM stock WHERE item = :item
    """  # noqa: S608 - a fixed fragment from this module
)


async def decision_context(session: AsyncSession, item: str = BADGE) -> tuple[int, int | None]:
    """What is available, and the placement_seq at the head of the waitlist (None if empty).

    Only meaningful under the stock lock (:func:`lock_stock`), which this transaction holds.
    """
    row = (await session.execute(_DECISION_CONTEXT, {"item": item})).one()
    return int(row.available), row.first_waiting


async def placement_context(
    session: AsyncSession, placement_seq: int, item: str = BADGE
) -> tuple[Balance, bool]:
    """The balance, and whether an order placed before ``placement_seq`` waits for stock.

    Only meaningful under the stock lock (:func:`lock_stock`), which this transaction holds.
    """
    row = (
        await session.execute(_PLACEMENT_CONTEXT, {"placement_seq": placement_seq, "item": item})
    ).one()
    return _balance(row), bool(row.earlier_waiting)


_SAVE_FACTS = (
    update(dispatch_orders)
    .where(dispatch_orders.c.order_id == bindparam("id"))
    .values(
        state=bindparam("state"),
        placed=bindparam("placed"),
        verified=bindparam("verified"),
        closed=bindparam("closed"),
        updated_at=func.now(),
    )
)


async def save_facts(session: AsyncSession, order_id: UUID, facts: OrderFacts) -> None:
    await session.execute(
        _SAVE_FACTS,
        {
            "id": order_id,
            "state": facts.state.value,
            "placed": facts.placed,
            "verified": facts.verified,
            "closed": facts.closed,
        },
    )


async def save_facts_many(
    session: AsyncSession, changes: Sequence[tuple[UUID, OrderFacts]]
) -> None:
    """:func:`save_facts` for several orders in one round trip."""
    await session.execute(
        _SAVE_FACTS,
        [
            {
                "id": order_id,
                "state": facts.state.value,
                "placed": facts.placed,
                "verified": facts.verified,
                "closed": facts.closed,
            }
            for order_id, facts in changes
        ],
    )


async def set_delivery(session: AsyncSession, order_id: UUID, delivery: dict[str, Any]) -> None:
    await session.execute(
        update(dispatch_orders)
        .where(dispatch_orders.c.order_id == order_id)
        .values(delivery=delivery, updated_at=func.now())
    )


_WAITING = and_(dispatch_orders.c.state == State.WAITLISTED, ~dispatch_orders.c.closed)
_RESERVED = and_(dispatch_orders.c.state == State.RESERVED, ~dispatch_orders.c.closed)


_WAITLIST_COLUMNS = (
    dispatch_orders.c.order_id,
    dispatch_orders.c.quantity,
    dispatch_orders.c.placement_seq,
)


def _waiting(row: Any) -> Waiting:
    return Waiting(order_id=row.order_id, quantity=row.quantity, placement_seq=row.placement_seq)


async def waitlist(
    session: AsyncSession, *, after: tuple[int, UUID] | None = None, limit: int | None = None
) -> list[Waiting]:
    """Waiting orders in placement order (the order they are served in).

    ``after`` (a placement_seq and order id) and ``limit`` read it a page at a time: a long
    waitlist is served from its head, and in strict mode reading stops at the first order
    that does not fit.
    """
    query = (
        select(*_WAITLIST_COLUMNS)
        .where(_WAITING)
        .order_by(dispatch_orders.c.placement_seq, dispatch_orders.c.order_id)
    )
    if after is not None:
        query = query.where(
            tuple_(dispatch_orders.c.placement_seq, dispatch_orders.c.order_id)
            > tuple_(literal(after[0]), literal(after[1], Uuid()))
        )
    if limit is not None:
        query = query.limit(limit)
    return [_waiting(r) for r in await session.execute(query)]


async def lock_later_reservations(session: AsyncSession, placement_seq: int) -> list[Waiting]:
    """Reservations not yet allocated of orders placed after ``placement_seq``, locked, in
    placement order: the stock a late-arriving earlier order may take back (ADR 0010)."""
    rows = await session.execute(
        select(*_WAITLIST_COLUMNS)
        .where(_RESERVED, dispatch_orders.c.placement_seq > placement_seq)
        .order_by(dispatch_orders.c.placement_seq, dispatch_orders.c.order_id)
        .with_for_update()
    )
    return [_waiting(r) for r in rows]


@dataclass(frozen=True)
class WaitlistSize:
    orders: int
    badges: int


async def waitlist_size(session: AsyncSession) -> WaitlistSize:
    orders, badges = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(dispatch_orders.c.quantity), 0)).where(
                _WAITING
            )
        )
    ).one()
    return WaitlistSize(int(orders), int(badges))


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


# --- shipments and courier callbacks ---------------------------------------------------------


@dataclass(frozen=True)
class ShipmentRow:
    reference: str
    order_id: UUID
    status: ShipmentStatus
    parcels: list[dict[str, Any]]
    created_at: datetime | None = None
    updated_at: datetime | None = None


async def account_shipments(session: AsyncSession, account_id: UUID) -> list[ShipmentRow]:
    """The shipments of the account's orders."""
    rows = await session.execute(
        select(shipments)
        .join(dispatch_orders, dispatch_orders.c.order_id == shipments.c.order_id)
        .where(dispatch_orders.c.account_id == account_id)
    )
    return [_shipment(r) for r in rows]


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
    return ShipmentRow(
        row.reference,
        row.order_id,
        ShipmentStatus(row.status),
        row.parcels,
        row.created_at,
        row.updated_at,
    )


async def get_shipment(session: AsyncSession, reference: str) -> ShipmentRow | None:
    row = (
        await session.execute(select(shipments).where(shipments.c.reference == reference))
    ).first()
    return _shipment(row) if row else None


async def shipments_with_status(
    session: AsyncSession, status: ShipmentStatus, limit: int
) -> list[ShipmentRow]:
    """Shipments in ``status``, the longest in it first (customer services' work list)."""
    rows = await session.execute(
        select(shipments)
        .where(shipments.c.status == status)
        .order_by(shipments.c.updated_at, shipments.c.reference)
        .limit(limit)
    )
    return [_shipment(r) for r in rows]


@dataclass(frozen=True)
class CallbackRow:
    shipment_reference: str
    status: str
    known: bool
    received_at: datetime
    occurred_at: str


async def callbacks(
    session: AsyncSession, *, reference: str | None = None, known: bool | None = None, limit: int
) -> list[CallbackRow]:
    """Courier reports as kept, newest first: one shipment's, or those for no known shipment."""
    query = select(courier_callbacks).order_by(courier_callbacks.c.id.desc()).limit(limit)
    if reference is not None:
        query = query.where(courier_callbacks.c.shipment_reference == reference)
    if known is not None:
        query = query.where(courier_callbacks.c.known == known)
    return [
        CallbackRow(
            r.shipment_reference,
            r.status,
            r.known,
            r.received_at,
            str(r.body.get("occurred_at", "")),
        )
        for r in await session.execute(query)
    ]


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
