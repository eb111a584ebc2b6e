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

#: What a figure is filed under when the event that would tell has not arrived (or never says).
NOT_KNOWN = "Not known"

CQC_REGISTERED = "CQC-registered"
NOT_CQC_REGISTERED = "Not CQC-registered"

#: Organisation types reported, from CQC's primary inspection category (folded, by prefix)
#: for registered locations and from the kind of account for the others. A bounded set: a
#: category CQC adds later is reported as "Other CQC-registered" until it is named here.
_CQC_TYPES = (
    ("residential social care", "Residential care"),
    ("community based adult social care", "Community-based care"),
    ("hospice", "Hospice"),
    ("residential substance misuse", "Substance misuse service"),
    ("community substance misuse", "Substance misuse service"),
    ("mental health", "Mental health service"),
)
OTHER_CQC = "Other CQC-registered"
LOCAL_AUTHORITY = "Local authority"
NON_CQC_PROVIDER = "Provider not registered with CQC"
ORGANISATION_TYPES = (
    *dict.fromkeys(label for _, label in _CQC_TYPES),
    OTHER_CQC,
    NON_CQC_PROVIDER,
    LOCAL_AUTHORITY,
)

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


def organisation_type_of_category(inspection_category: str) -> str:
    """The reported organisation type of a CQC location, from its primary inspection category."""
    folded = " ".join(inspection_category.lower().split())
    for prefix, label in _CQC_TYPES:
        if folded.startswith(prefix):
            return label
    return OTHER_CQC


def organisation_type(kind: AccountKind, location_types: list[str]) -> str:
    """The type an order is reported under: its largest location's for a CQC provider (the
    caller passes the known types of the order's locations, largest first)."""
    if kind is AccountKind.LOCAL_AUTHORITY:
        return LOCAL_AUTHORITY
    if kind is AccountKind.NON_CQC:
        return NON_CQC_PROVIDER
    if kind is AccountKind.CQC:
        return location_types[0] if location_types else OTHER_CQC
    return NOT_KNOWN


def _area(value: str) -> str:
    cleaned = " ".join(value.split())[:_MAX_AREA]
    return cleaned or NOT_KNOWN


def _at(moment: datetime) -> str:
    return moment.isoformat()


def reduce(
    payload: EventPayload, occurred_at: datetime, org_type: str = NOT_KNOWN
) -> EventFact | None:
    """The fact kept of one event, or None for an event no figure depends on.

    ``org_type`` is the organisation type of a placed order, which the caller looks up from the
    locations it has been told about.
    """
    match payload:
        case OrderPlaced():
            return EventFact(
                payload.TYPE,
                payload.order_id,
                {
                    "at": _at(payload.placed_at),
                    "quantity": payload.quantity,
                    "region": _area(payload.region),
                    "local_authority": _area(payload.local_authority),
                    "org_type": org_type,
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
            return EventFact(
                payload.TYPE,
                payload.order_id,
                {
                    "at": _at(occurred_at),
                    "quantity": payload.quantity,
                    "parcels": payload.parcel_count,
                },
            )
        case OrderDelivered():
            return EventFact(payload.TYPE, payload.order_id, {"at": _at(payload.delivered_at)})
        case StockReceived():
            return EventFact(
                payload.TYPE, None, {"at": _at(occurred_at), "quantity": payload.quantity}
            )
        case AccountRegistered():
            return EventFact(
                payload.TYPE, None, {"at": _at(occurred_at), "kind": payload.kind.value}
            )
    return None


#: Every key a fact may hold: the privacy test checks the log against this list.
FACT_KEYS = frozenset(
    {"at", "quantity", "parcels", "region", "local_authority", "org_type", "cqc", "kind"}
)
