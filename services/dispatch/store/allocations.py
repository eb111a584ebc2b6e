"""An order's stock leaving for the courier, in one statement: its badges moved from reserved
(or, for an order reserved in the same step, from available) to allocated, its shipment and
parcels, the leaflets the parcels take, their ledger entries, the order's state and the events
the transaction has emitted so far (the handoff and the dispatch notice among them).

The caller holds the badge stock row and the order's row (taken in that order, as the lock
order in :mod:`services.dispatch.store` says); the statement adds the shipment's new row and
then the leaflet rows, in item order. Every guarantee the separate statements gave is the
database's, so it holds here too: the badge move happens only if the reservation (or what is
available) covers it, and nothing else of the statement happens if it does not; the CHECK
constraints on stock, the ledger's unique indexes (one allocation per order and round, one per
order whatever the round) and the shipment's unique order id refuse a second allocation or
parcel.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.order_state import OrderFacts
from services.dispatch.domain.shipment import ShipmentStatus
from services.dispatch.domain.stock import BADGE, LedgerKind
from services.dispatch.store.ledger import AVAILABLE, StockConflict, packed_note
from shared.events import Parcel
from shared.store import outbox, prepared
from shared.store.db import before_commit

_ALLOCATION = LedgerKind.ALLOCATION.value
_RESERVATION = LedgerKind.RESERVATION.value

# Each write reads ``moved`` (the badge row's update, which returns nothing when the balance
# refuses it), so a refused allocation writes nothing at all. Leaflets are counted, never
# refused (ADR 0013): their rows are made at zero if new. The ledger gets one entry per item,
# badges first, then leaflets in item order (as the statements one by one wrote them): the
# badges' names the order, in the order's round (its releases so far plus one,
# ``stock_ledger.round``); the leaflets' name the shipment instead (``ledger.packed_note``),
# so the per-order ledger stays badges only.
#
# Reserved first: an order verified before its placement was decided is reserved and handed
# over in the same step. The badges then move from available straight to allocated, if that
# many are available, and the ledger gets the reservation's entry just before the
# allocation's, as the two statements one after the other wrote them.
_BADGES_MOVED = {
    False: "reserved = reserved - $2::bigint, allocated = allocated + $2::bigint "
    "WHERE item = $3::varchar AND reserved >= $2::bigint",
    True: "allocated = allocated + $2::bigint "
    f"WHERE item = $3::varchar AND {AVAILABLE} >= $2::bigint",
}
_BADGE_KINDS = {False: [_ALLOCATION], True: [_RESERVATION, _ALLOCATION]}


def _allocate_and_ship(*, reserve_first: bool) -> str:
    kinds = ", ".join(f"'{kind}'" for kind in _BADGE_KINDS[reserve_first])
    return f"""
WITH moved AS (
    UPDATE stock SET {_BADGES_MOVED[reserve_first]}
    RETURNING item
),
facts AS (
    UPDATE dispatch_orders SET
        state = $4::varchar, placed = $5::boolean, verified = $6::boolean,
        closed = $7::boolean, updated_at = now()
    WHERE order_id = $1::uuid AND EXISTS (SELECT FROM moved)
),
shipment AS (
    INSERT INTO shipments (reference, order_id, parcels, status)
    SELECT $8::varchar, $1::uuid, $9::jsonb, $10::varchar FROM moved
),
packed AS (
    SELECT item, quantity FROM unnest($11::varchar[], $12::bigint[]) AS p(item, quantity)
    WHERE quantity > 0 AND EXISTS (SELECT FROM moved)
),
leaflets AS (
    INSERT INTO stock (item, allocated)
    SELECT item, quantity FROM packed ORDER BY item
    ON CONFLICT (item) DO UPDATE SET allocated = stock.allocated + excluded.allocated
    RETURNING item
),
entries AS (
    INSERT INTO stock_ledger (item, kind, quantity, order_id, note, round)
    SELECT item, kind, quantity, order_id, note, round FROM (
        SELECT 0 AS position, badge.kind, moved.item, $2::bigint AS quantity,
               $1::uuid AS order_id, NULL::varchar AS note, (
                   SELECT count(*) + 1 FROM stock_ledger AS l
                   WHERE l.order_id = $1::uuid AND l.kind = '{LedgerKind.RELEASE.value}'
               )::int AS round, badge.step
        FROM moved CROSS JOIN unnest(ARRAY[{kinds}]::varchar[]) WITH ORDINALITY
            AS badge(kind, step)
        UNION ALL
        SELECT 1, '{_ALLOCATION}', packed.item, packed.quantity, NULL, $13::varchar, 1, 1
        FROM leaflets JOIN packed USING (item)
    ) AS entry
    ORDER BY position, step, item
),
written AS (
    {outbox.carrying_insert(14)} WHERE EXISTS (SELECT FROM moved)
)
SELECT EXISTS (SELECT FROM moved) AS allocated
"""  # noqa: S608 - fixed fragments from the domain's enums, never input


_STATEMENTS = {first: _allocate_and_ship(reserve_first=first) for first in (False, True)}


async def allocate_and_ship(
    session: AsyncSession,
    order_id: UUID,
    quantity: int,
    facts: OrderFacts,
    *,
    reference: str,
    parcels: Sequence[Parcel],
    leaflets: Mapping[str, int],
    reserve_first: bool = False,
) -> None:
    """Move the order's ``quantity`` badges from reserved to allocated, save what it knows
    (``facts``), make shipment ``reference`` with its ``parcels`` (handed over), take the
    ``leaflets`` they carry (by item), each movement with its ledger entry, and write the
    events the transaction has emitted so far (its handoff and dispatch notice among them,
    ``outbox.carrying_insert``): one statement.
    With ``reserve_first`` the badges are reserved in the same statement (from what is
    available) rather than by an earlier one.

    Raises :class:`StockConflict` if the badges reserved (or, reserving first, available) do
    not cover ``quantity``; then the statement wrote nothing, and the transaction can only
    roll back (its commit raises too).
    """
    items = sorted(leaflets)
    [row] = await prepared.fetch(
        session,
        _STATEMENTS[reserve_first],
        order_id,
        quantity,
        BADGE,
        facts.state.value,
        facts.placed,
        facts.verified,
        facts.closed,
        reference,
        json.dumps([parcel.model_dump() for parcel in parcels]),
        ShipmentStatus.HANDED_OVER.value,
        items,
        [leaflets[item] for item in items],
        packed_note(reference),
        *outbox.take_pending(session),
    )
    if not row["allocated"]:
        # The events it would have written were taken from the transaction, and those for
        # this allocation are untrue: it must never commit, even if a caller carried on.
        before_commit(session, _REFUSED, _never_commit)
        raise StockConflict(f"allocation of {quantity} {BADGE} refused by the balance")


_REFUSED = "allocation_refused"


async def _never_commit(_session: AsyncSession) -> None:
    raise StockConflict("a transaction whose allocation was refused cannot commit")
