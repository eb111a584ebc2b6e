"""The stock balance and the ledger it must always agree with.

Every movement is a ledger entry; the balance row is a running total kept for speed and as the
lock. Recomputing the balance from the ledger and comparing is how we prove nothing was
counted twice or lost.

Badges are rationed: reserved for orders first come first served, and never promised beyond
what was received. Leaflets are counted, not rationed: every parcel carries one of each kind,
recorded as it is packed, and a count that goes below zero means a delivery of leaflets was
never recorded, which operations are shown rather than parcels being held back (ADR 0013).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from shared.events import Parcel

BADGE = "badge"
WELLBEING_LEAFLET = "wellbeing_leaflet"
WINTER_LEAFLET = "winter_leaflet"
LEAFLETS = (WELLBEING_LEAFLET, WINTER_LEAFLET)
ITEMS = (BADGE, *LEAFLETS)


class LedgerKind(StrEnum):
    RECEIPT = "receipt"
    RESERVATION = "reservation"
    RELEASE = "release"
    #: Reserved stock leaving for the courier: moves from reserved to allocated.
    ALLOCATION = "allocation"
    #: A stock-take correction to what was received; the only kind that may be negative.
    ADJUSTMENT = "adjustment"


@dataclass(frozen=True)
class Balance:
    received: int = 0
    reserved: int = 0
    allocated: int = 0

    @property
    def available(self) -> int:
        return self.received - self.reserved - self.allocated


def balance_from_ledger(totals: Mapping[LedgerKind, int], *, rationed: bool = True) -> Balance:
    """The balance the ledger's total quantity per kind implies.

    A rationed item (badges) is allocated out of its reservations; an unrationed one
    (leaflets) is never reserved, and is allocated straight from what was received.
    """

    def total(kind: LedgerKind) -> int:
        return totals.get(kind, 0)

    reserved = total(LedgerKind.RESERVATION) - total(LedgerKind.RELEASE)
    if rationed:
        reserved -= total(LedgerKind.ALLOCATION)
    return Balance(
        received=total(LedgerKind.RECEIPT) + total(LedgerKind.ADJUSTMENT),
        reserved=reserved,
        allocated=total(LedgerKind.ALLOCATION),
    )


def leaflets_packed(parcels: Sequence[Parcel]) -> dict[str, int]:
    """How many of each leaflet a shipment's parcels take from the shelf."""
    return {
        WELLBEING_LEAFLET: sum(p.wellbeing_leaflets for p in parcels),
        WINTER_LEAFLET: sum(p.winter_leaflets for p in parcels),
    }
