"""Which figures each event moves. Only counts and quantities: nothing personal is read.

Reporting's store must hold no personal data at all, so this reads ids-free numbers from the
payloads and never copies a payload field into the store.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from shared.events import (
    AccountRegistered,
    EventPayload,
    OrderCancelled,
    OrderDelivered,
    OrderDispatched,
    OrderPlaced,
    OrderReferred,
    OrderRejected,
    OrderVerified,
    StockReceived,
    StockReleased,
    StockReserved,
    StockWaitlisted,
)

Contribution = tuple[str, int]


def contributions(payload: EventPayload) -> list[Contribution]:
    """The (metric, amount) pairs one event adds to the day's figures."""
    match payload:
        case OrderPlaced(quantity=q):
            return [("orders_placed", 1), ("badges_placed", q)]
        case OrderVerified():
            return [("orders_verified", 1)]
        case OrderReferred():
            return [("orders_referred", 1)]
        case OrderRejected():
            return [("orders_rejected", 1)]
        case OrderCancelled():
            return [("orders_cancelled", 1)]
        case OrderDispatched(quantity=q, parcel_count=parcels):
            return [("orders_dispatched", 1), ("badges_dispatched", q), ("parcels", parcels)]
        case OrderDelivered():
            return [("orders_delivered", 1)]
        case StockReceived(quantity=q):
            return [("stock_received", q)]
        case StockReserved(quantity=q):
            return [("stock_reserved", q)]
        case StockReleased(quantity=q):
            return [("stock_released", q)]
        case StockWaitlisted():
            return [("orders_waitlisted", 1)]
        case AccountRegistered():
            return [("accounts_registered", 1)]
    return []


def day_of(payload: EventPayload, occurred: Any) -> date:
    """Orders count on the day they were placed; everything else on the day it happened."""
    if isinstance(payload, OrderPlaced):
        return payload.placed_at.date()
    return occurred.date()  # type: ignore[no-any-return]


def suppress(value: int, threshold: int) -> int | str:
    """Small non-zero counts could identify an organisation: show them as suppressed."""
    return "suppressed" if 0 < value < threshold else value
