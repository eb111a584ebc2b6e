"""Reporting's own feed: the anonymised facts the figures need, and nothing else (ADR 0026).

Reporting (DHSC's management information) used to read every domain event, including
AccountRegistered (email, phone, name, address), OrderPlaced (the delivery address and the
recipient), AccountDetailsCorrected and SubjectDataProvided (whole data copies). It kept none of
it, but it received it. Now the producers publish, beside the event for everyone else, one made
for reporting: categories, quantities and times only. Reporting subscribes to these and to the
order's later steps, which carry no personal data; ``tests/unit/shared/test_events.py`` fails if
it subscribes to an event that declares ``PERSONAL_FIELDS``.

The organisation types are folded here, by the producer, so reporting never needs CQC location
ids to work out the type of an order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from pydantic import Field

from shared.events.catalogue import AccountKind, AccountRegistered, OrderPlaced
from shared.events.envelope import EventPayload, register

__all__ = [
    "LOCAL_AUTHORITY_TYPE",
    "NON_CQC_PROVIDER",
    "NOT_KNOWN",
    "ORGANISATION_TYPES",
    "OTHER_CQC",
    "AccountRegisteredForReporting",
    "OrderPlacedForReporting",
    "organisation_type",
    "organisation_type_of_category",
    "organisation_type_of_order",
]

#: What a figure is filed under when nothing tells.
NOT_KNOWN = "Not known"

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
LOCAL_AUTHORITY_TYPE = "Local authority"
NON_CQC_PROVIDER = "Provider not registered with CQC"
ORGANISATION_TYPES = (
    *dict.fromkeys(label for _, label in _CQC_TYPES),
    OTHER_CQC,
    NON_CQC_PROVIDER,
    LOCAL_AUTHORITY_TYPE,
)


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
        return LOCAL_AUTHORITY_TYPE
    if kind is AccountKind.NON_CQC:
        return NON_CQC_PROVIDER
    if kind is AccountKind.CQC:
        return location_types[0] if location_types else OTHER_CQC
    return NOT_KNOWN


def organisation_type_of_order(
    kind: AccountKind,
    lines: Sequence[tuple[str | None, int]],
    locations: Mapping[str, Mapping[str, Any]],
) -> str:
    """An order's type from its lines (location, staff) and the register details of the
    account's locations (location id -> details with ``inspection_category``)."""
    largest_first = sorted(lines, key=lambda line: -line[1])
    types = [
        organisation_type_of_category(str(locations[loc].get("inspection_category", "")))
        for loc, _ in largest_first
        if loc and loc in locations
    ]
    return organisation_type(kind, types)


@register
class OrderPlacedForReporting(EventPayload):
    """An order was placed: what the figures count it under, and nothing about who or where.

    Published by orders in the same transaction as OrderPlaced. ``order_id`` lets reporting
    link the order's later steps (OrderVerified, StockReserved, OrderDispatched, ...); it
    keeps only a keyed hash of it (ADR 0027).
    """

    TYPE: ClassVar[str] = "OrderPlacedForReporting"
    ROUTING_KEY: ClassVar[str] = "order.placed-for-reporting"

    order_id: UUID
    placed_at: datetime
    quantity: int = Field(gt=0)
    account_kind: AccountKind
    organisation_type: str = NOT_KNOWN
    region: str = ""
    local_authority: str = ""

    @classmethod
    def of(cls, placed: OrderPlaced, organisation_type: str) -> OrderPlacedForReporting:
        return cls(
            order_id=placed.order_id,
            placed_at=placed.placed_at,
            quantity=placed.quantity,
            account_kind=placed.account_kind,
            organisation_type=organisation_type,
            region=placed.region,
            local_authority=placed.local_authority,
        )


@register
class AccountRegisteredForReporting(EventPayload):
    """An account was made: its kind only (the figure is accounts registered per day)."""

    TYPE: ClassVar[str] = "AccountRegisteredForReporting"
    ROUTING_KEY: ClassVar[str] = "account.registered-for-reporting"

    kind: AccountKind

    @classmethod
    def of(cls, registered: AccountRegistered) -> AccountRegisteredForReporting:
        return cls(kind=registered.kind)
