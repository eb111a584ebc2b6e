"""First come, first served by placement: who gets stock when there is not enough for all.

The published rule is strict: stock goes to orders in the order they were placed, and an order
that does not fit holds back every later one (otherwise a large early order could wait for ever
behind a stream of small later ones). ``skip_ahead`` relaxes that for operations who prefer
to keep stock moving; an order is never split in either mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Waiting:
    """One waitlisted order, as the selection needs it."""

    order_id: UUID
    quantity: int


def can_reserve_on_arrival(
    quantity: int, available: int, *, earlier_waiting: bool, skip_ahead: bool
) -> bool:
    """Whether a newly placed order takes stock now rather than joining the waitlist.

    ``earlier_waiting``: an order placed before this one is on the waitlist; in strict mode
    the newcomer queues behind it even if it would fit.
    """
    if earlier_waiting and not skip_ahead:
        return False
    return quantity <= available


def select(waiting: Sequence[Waiting], available: int, *, skip_ahead: bool) -> list[UUID]:
    """The waitlisted orders to reserve now, given in placement order, in that order."""
    chosen: list[UUID] = []
    for order in waiting:
        if order.quantity <= available:
            chosen.append(order.order_id)
            available -= order.quantity
        elif not skip_ahead:
            break
    return chosen
