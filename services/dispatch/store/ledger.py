"""The badge and leaflet stock: the balance rows, the ledger they must add up to, and every
movement between them.

The stock row is the lock every stock movement takes first (the lock order is in
:mod:`services.dispatch.store`), and each movement is one statement that updates the balance
only if it allows the movement and records it in the ledger. Badges and leaflets leaving with
a shipment move in the statement that makes the shipment (:mod:`.allocations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from asyncpg import Record
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.stock import BADGE, Balance, LedgerKind, balance_from_ledger
from services.dispatch.store.tables import stock, stock_ledger
from shared.store import prepared


class StockConflict(Exception):
    """A stock movement the balance does not allow: a bug upstream, never a normal outcome."""


# The statements on the reservation path are fixed texts run with parameters: every placement
# takes the stock row's lock, so what it costs is paid by every placement queued behind it
# (bench/reservations.py measures it). The lock, each movement (:func:`_move`: receipts,
# adjustments, reservations, releases) and the allocator's batch reservation
# (:func:`reserve_many`) run on asyncpg's prepared statements (shared/store/prepared.py),
# which skip SQLAlchemy's statement handling; the cold reads (:func:`read_stock`,
# :func:`check_ledger`) stay on SQLAlchemy.

_LOCK_STOCK = "SELECT received, reserved, allocated FROM stock WHERE item = $1::varchar FOR UPDATE"


def balance_of(row: Any) -> Balance:
    """The balance in a row holding ``received``, ``reserved`` and ``allocated``."""
    return Balance(int(row.received), int(row.reserved), int(row.allocated))


def balance_of_record(record: Record) -> Balance:
    """:func:`balance_of` for a prepared statement's row, which is read by key, not attribute."""
    return Balance(int(record["received"]), int(record["reserved"]), int(record["allocated"]))


async def lock_stock(session: AsyncSession, item: str = BADGE) -> Balance:
    """Lock the item's balance row for this transaction (creating it at zero if new)."""
    rows = await prepared.fetch(session, _LOCK_STOCK, item)
    if not rows:
        await session.execute(insert(stock).values(item=item).on_conflict_do_nothing())
        rows = await prepared.fetch(session, _LOCK_STOCK, item)
    return balance_of_record(rows[0])


async def read_stock(session: AsyncSession, item: str = BADGE) -> Balance:
    """The balance as last committed, without waiting for anyone's lock."""
    row = (await session.execute(select(stock).where(stock.c.item == item))).first()
    return balance_of(row) if row else Balance()


def _movement(kind: LedgerKind, change: str, allowed: str) -> str:
    """One statement that moves the balance, if ``allowed`` holds, and records it in the ledger.

    One template for every kind, so the four statements cannot drift apart. Its parameters:
    ``$1`` the item, ``$2`` the quantity, ``$3`` the order (NULL for receipts and
    adjustments), ``$4`` the actor and ``$5`` the note. The round is the order's releases so far
    plus one (see ``stock_ledger.round``); no row comes back when the balance refuses the
    movement.
    """
    return f"""
WITH moved AS (
    UPDATE stock SET {change}
    WHERE item = $1::varchar AND ({allowed})
    RETURNING item
)
INSERT INTO stock_ledger (item, kind, quantity, order_id, actor, note, round)
SELECT moved.item, '{kind.value}', $2::bigint, $3::uuid, $4::varchar, $5::varchar,
       CASE WHEN $3::uuid IS NULL THEN 1 ELSE (
           SELECT count(*) + 1 FROM stock_ledger AS l
           WHERE l.order_id = $3::uuid AND l.kind = '{LedgerKind.RELEASE.value}'
       ) END
FROM moved
RETURNING id
"""  # noqa: S608 - fixed fragments from this module, never input


#: What a balance row has available, in SQL (the placement queries share it).
AVAILABLE = "received - reserved - allocated"
_MOVEMENTS = {
    LedgerKind.RECEIPT: _movement(LedgerKind.RECEIPT, "received = received + $2::bigint", "true"),
    LedgerKind.RESERVATION: _movement(
        LedgerKind.RESERVATION,
        "reserved = reserved + $2::bigint",
        f"{AVAILABLE} >= $2::bigint",
    ),
    LedgerKind.RELEASE: _movement(
        LedgerKind.RELEASE, "reserved = reserved - $2::bigint", "reserved >= $2::bigint"
    ),
    # A stock-take correction of what was received; may not make promised stock disappear.
    LedgerKind.ADJUSTMENT: _movement(
        LedgerKind.ADJUSTMENT,
        "received = received + $2::bigint",
        f"{AVAILABLE} + $2::bigint >= 0",
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
    moved = await prepared.fetch(session, _MOVEMENTS[kind], item, quantity, order_id, actor, note)
    if not moved:
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


# The allocator's batch, in two statements: the total reserved at once (``$1`` the item,
# ``$2`` the total), then one ledger entry per order in one round trip (``$1`` the item, and
# two arrays of the same length: ``$2`` the quantities, ``$3`` the orders), written in the
# order given, each in its order's round as :func:`_movement` counts it.
_RESERVE_TOTAL = f"""
UPDATE stock SET reserved = reserved + $2::bigint
WHERE item = $1::varchar AND {AVAILABLE} >= $2::bigint
RETURNING item
"""  # noqa: S608 - a fixed fragment from this module
_LEDGER_RESERVATIONS = f"""
INSERT INTO stock_ledger (item, kind, quantity, order_id, round)
SELECT $1::varchar, '{LedgerKind.RESERVATION.value}', r.quantity, r.order_id, (
    SELECT count(*) + 1 FROM stock_ledger AS l
    WHERE l.order_id = r.order_id AND l.kind = '{LedgerKind.RELEASE.value}'
)
FROM unnest($2::bigint[], $3::uuid[]) WITH ORDINALITY AS r(quantity, order_id, position)
ORDER BY r.position
"""  # noqa: S608 - fixed fragments from this module, never input


def packed_note(shipment_reference: str) -> str:
    """How a leaflet entry names the shipment that took the leaflets."""
    return f"shipment {shipment_reference}"


async def reserve_many(
    session: AsyncSession, reservations: Sequence[tuple[UUID, int]], item: str = BADGE
) -> None:
    """Reserve for several orders at once: one balance update, one ledger entry each.

    Refused as a whole (:class:`StockConflict`) unless their total is available."""
    total = sum(quantity for _, quantity in reservations)
    if not await prepared.fetch(session, _RESERVE_TOTAL, item, total):
        raise StockConflict(f"reservation of {total} {item} refused by the balance")
    await prepared.fetch(
        session,
        _LEDGER_RESERVATIONS,
        item,
        [quantity for _, quantity in reservations],
        [order_id for order_id, _ in reservations],
    )


async def reserve(session: AsyncSession, order_id: UUID, quantity: int, item: str = BADGE) -> None:
    """Set stock aside for an order; refused unless that much is available."""
    await _move(session, LedgerKind.RESERVATION, quantity, order_id, item)


async def release(session: AsyncSession, order_id: UUID, quantity: int, item: str = BADGE) -> None:
    """Give an order's reservation back."""
    await _move(session, LedgerKind.RELEASE, quantity, order_id, item)


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
    out_of_step = await session.scalar(_ORDERS_OUT_OF_STEP, {"item": item}) if item == BADGE else 0
    return LedgerCheck(
        balance=await read_stock(session, item),
        ledger=ledger,
        orders_out_of_step=int(out_of_step or 0),
    )
