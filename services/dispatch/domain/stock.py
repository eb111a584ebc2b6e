"""The stock balance and the ledger it must always agree with.

Every movement is a ledger entry; the balance row is a running total kept for speed and as the
lock. Recomputing the balance from the ledger and comparing is how we prove nothing was
counted twice or lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

BADGE = "badge"


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


def balance_from_ledger(totals: Mapping[LedgerKind, int]) -> Balance:
    """The balance the ledger's total quantity per kind implies."""

    def total(kind: LedgerKind) -> int:
        return totals.get(kind, 0)

    return Balance(
        received=total(LedgerKind.RECEIPT) + total(LedgerKind.ADJUSTMENT),
        reserved=total(LedgerKind.RESERVATION)
        - total(LedgerKind.RELEASE)
        - total(LedgerKind.ALLOCATION),
        allocated=total(LedgerKind.ALLOCATION),
    )
