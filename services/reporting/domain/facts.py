"""The anonymised facts reporting keeps of each event: numbers, times and categories only.

Reporting's store must hold no personal data at all. Each event is reduced here, by an explicit
list of what is kept per event type, to a small JSON object: quantities, the time the step
happened, and for a placed order the organisation-level categories it is reported under
(region, local authority, organisation type, CQC registration). Nothing else of a payload is
read: no names, emails, addresses, postcodes, phones, references, account or reviewer ids, and
no free text (a rejection's reason, a referral's reasons).

These facts are what reporting's append-only log holds and what a rebuild replays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from shared.events import (
    AccountKind,
    AccountRegisteredForReporting,
    EventPayload,
    OrderCancelled,
    OrderDelivered,
    OrderDispatched,
    OrderPlacedForReporting,
    OrderReferred,
    OrderRejected,
    OrderVerified,
    StockReceived,
    StockReleased,
    StockReserved,
    StockWaitlisted,
)
from shared.events.reporting import (
    LOCAL_AUTHORITY_TYPE as LOCAL_AUTHORITY,
)
from shared.events.reporting import (
    NON_CQC_PROVIDER,
    NOT_KNOWN,
    ORGANISATION_TYPES,
    OTHER_CQC,
    organisation_type,
    organisation_type_of_category,
)

__all__ = [
    "CQC_REGISTERED",
    "FACT_KEYS",
    "LOCAL_AUTHORITY",
    "NON_CQC_PROVIDER",
    "NOT_CQC_REGISTERED",
    "NOT_KNOWN",
    "ORGANISATION_TYPES",
    "OTHER_CQC",
    "RESERVED_WITH_DISPATCH",
    "EventFact",
    "Fact",
    "organisation_type",
    "organisation_type_of_category",
    "reduce",
]

CQC_REGISTERED = "CQC-registered"
NOT_CQC_REGISTERED = "Not CQC-registered"

#: Longest text kept for a region or local authority name (the register's own values).
_MAX_AREA = 100

Fact = dict[str, Any]


@dataclass(frozen=True)
class EventFact:
    """One event reduced to what reporting keeps: its type, the order it concerns (to link the
    steps of one order while it is in progress) and the anonymised fact."""

    event_type: str
    order_id: UUID | None
    fact: Fact


def _area(value: str) -> str:
    cleaned = " ".join(value.split())[:_MAX_AREA]
    return cleaned or NOT_KNOWN


def _at(moment: datetime) -> str:
    return moment.isoformat()


#: The log keeps the step's name, whichever event told it: a log written before reporting's
#: own feed (ADR 0026) replays the same way.
PLACED = "OrderPlaced"
REGISTERED = "AccountRegistered"

#: An OrderDispatched fact's badges reserved in the same step (none: the key is left out).
RESERVED_WITH_DISPATCH = "reserved_with_dispatch"


def _org_type(value: str) -> str:
    if value in ORGANISATION_TYPES or value == NOT_KNOWN:
        return value
    return OTHER_CQC if value else NOT_KNOWN


def reduce(payload: EventPayload, occurred_at: datetime) -> EventFact | None:
    """The fact kept of one event, or None for an event no figure depends on."""
    match payload:
        case OrderPlacedForReporting():
            return EventFact(
                PLACED,
                payload.order_id,
                {
                    "at": _at(payload.placed_at),
                    "quantity": payload.quantity,
                    "region": _area(payload.region),
                    "local_authority": _area(payload.local_authority),
                    "org_type": _org_type(payload.organisation_type),
                    "cqc": payload.account_kind is AccountKind.CQC,
                },
            )
        case OrderVerified() | OrderReferred() | OrderRejected() | OrderCancelled():
            return EventFact(payload.TYPE, payload.order_id, {"at": _at(occurred_at)})
        case StockWaitlisted() | StockReserved() | StockReleased():
            return EventFact(
                payload.TYPE,
                payload.order_id,
                {"at": _at(occurred_at), "quantity": payload.quantity},
            )
        case OrderDispatched():
            dispatched: Fact = {
                "at": _at(occurred_at),
                "quantity": payload.quantity,
                "parcels": payload.parcel_count,
            }
            if payload.reserved_with_dispatch:
                # Reserved in the same step: no StockReserved came for these badges.
                dispatched[RESERVED_WITH_DISPATCH] = payload.reserved_with_dispatch
            return EventFact(payload.TYPE, payload.order_id, dispatched)
        case OrderDelivered():
            return EventFact(payload.TYPE, payload.order_id, {"at": _at(payload.delivered_at)})
        case StockReceived():
            return EventFact(
                payload.TYPE, None, {"at": _at(occurred_at), "quantity": payload.quantity}
            )
        case AccountRegisteredForReporting():
            return EventFact(REGISTERED, None, {"at": _at(occurred_at), "kind": payload.kind.value})
    return None


#: Every key a fact may hold: the privacy test checks the log against this list.
FACT_KEYS = frozenset(
    {
        "at",
        "quantity",
        "parcels",
        "region",
        "local_authority",
        "org_type",
        "cqc",
        "kind",
        RESERVED_WITH_DISPATCH,
    }
)
