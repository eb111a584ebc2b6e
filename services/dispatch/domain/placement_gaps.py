"""Holes in the placement numbers: wait a moment for a missing placement before deciding past it.

Orders numbers placements as it takes them, but its relay and dispatch's replicas deliver them
side by side, so placement 24 can be recorded before 23. ADR 0010 lets 23 take its place back
from later orders, but only from those still in the warehouse: if 24 was verified and handed to
the courier meanwhile, 23 loses stock it was owed. Holding 24 for a moment while 23 is missing
closes that window (ADR 0011). The wait is bounded because some numbers never come: an insert
orders rolled back, or an order that is announced only when its delivery details arrive.

A placement with nothing recorded below it opens the sequence (the first order, or the first
after the service's data was reset): there is nothing to say a number is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Recorded:
    """A recorded, undecided placement, as the hole check sees it."""

    seq: int
    #: The highest placement number recorded below it (decided or not); None if there is none.
    previous_seq: int | None
    #: Seconds since it was recorded, by the database's clock.
    age_seconds: float

    @property
    def after_a_hole(self) -> bool:
        return self.previous_seq is not None and self.previous_seq < self.seq - 1


@dataclass(frozen=True)
class Ready:
    """How many of the earliest placements may be decided now."""

    count: int
    #: Seconds until the first held placement may be decided past its hole (None: none held).
    look_again_in: float | None = None


def ready(placements: Sequence[Recorded], wait_seconds: float) -> Ready:
    """The leading run of ``placements`` (in placement order) that may be decided now.

    A placement after a hole is held until it has been recorded for ``wait_seconds``, and so
    is every placement after it: deciding them would put them ahead of the missing one.
    """
    for index, placement in enumerate(placements):
        if placement.after_a_hole and placement.age_seconds < wait_seconds:
            return Ready(index, wait_seconds - placement.age_seconds)
    return Ready(len(placements))
