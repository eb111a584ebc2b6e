"""First come, first served by placement: who gets stock when there is not enough for all.

The published rule is strict: stock goes to orders in the order they were placed, and an order
that does not fit holds back every later one (otherwise a large early order could wait for ever
behind a stream of small later ones). ``skip_ahead`` relaxes that for operations who prefer
to keep stock moving; an order is never split in either mode.

Placements do not reach dispatch strictly in placement order: several orders replicas relay
them and several dispatch replicas consume them, so an order can arrive a moment after
orders placed later than it have taken the last of the stock. :func:`make_room` gives it back
its place: reservations of later orders that have not left the warehouse go back to the
waitlist, so what is reserved is what arrival in placement order would have reserved (ADR 0010).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID


@dataclass(frozen=True)
class Waiting:
    """One waitlisted order, as the selection needs it."""

    order_id: UUID
    quantity: int
    #: Where it stands in the order of placement (reading the waitlist a page at a time).
    placement_seq: int = 0


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


@dataclass(frozen=True)
class Room:
    """What :func:`make_room` decided for an order that arrived after later-placed ones."""

    #: Whether the late order now takes stock.
    reserve: bool
    #: Later-placed orders whose reservation goes back to the waitlist, latest placed first.
    requeue: list[UUID] = field(default_factory=list)


def make_room(
    late: Waiting, later_reserved: Sequence[Waiting], available: int, *, skip_ahead: bool
) -> Room:
    """Re-run the selection as if ``late`` had arrived before ``later_reserved``.

    ``later_reserved``: orders placed after ``late`` that hold a reservation not yet allocated,
    in placement order. The stock they hold and ``available`` are shared out again among them
    and ``late`` in placement order; whoever no longer fits goes back to the waitlist. Only
    as many reservations move as the rule requires: in strict mode, if ``late`` cannot be
    served even with all of them, they all wait behind it, exactly as they would have had it
    arrived first; with ``skip_ahead`` they keep their stock instead.
    """
    pool = available + sum(order.quantity for order in later_reserved)
    chosen = set(select([late, *later_reserved], pool, skip_ahead=skip_ahead))
    requeue = [o.order_id for o in reversed(later_reserved) if o.order_id not in chosen]
    return Room(reserve=late.order_id in chosen, requeue=requeue)
