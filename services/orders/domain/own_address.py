"""Orders from accounts not on CQC's register: non-CQC providers, self-employed personal
assistants and local authorities. Their badges go to the address they registered, and a person
checks every such order.

One order per organisation (FAQ 3), except that a local authority may top up (FAQ 12: "order
the number of CARE badges you need to make up the difference"). A top-up waits until the
authority's earlier order has been sent: while that order is still being checked or waiting
for stock, a second one would most likely be the same badges ordered twice, and the holder
can cancel the first and order the total instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.orders.domain.order import NOT_YET_SENT, OrderRefused, Status
from shared.events import AccountKind
from shared.usecases import Conflict

#: Accounts whose badges go to the address they registered rather than a CQC location.
OWN_ADDRESS = frozenset(
    {AccountKind.NON_CQC, AccountKind.PERSONAL_ASSISTANT, AccountKind.LOCAL_AUTHORITY}
)
#: Accounts that may order again, for staff the first order did not cover.
MAY_TOP_UP = frozenset({AccountKind.LOCAL_AUTHORITY})

#: An earlier order in one of these states is with the courier or has arrived.
SENT = frozenset({Status.DISPATCHED, Status.DELIVERED})


def orders_to_own_address(kind: str) -> bool:
    """True for an account whose order is delivered to the address it registered."""
    return kind in OWN_ADDRESS


def one_order_only(kind: str) -> bool:
    """True for an account that may place one order in all (until it is cancelled)."""
    return kind in OWN_ADDRESS and kind not in MAY_TOP_UP


@dataclass(frozen=True)
class EarlierOrder:
    """One of the account's orders placed before this one."""

    reference: str
    status: Status
    quantity: int


class EarlierOrderWaiting(Conflict):
    """A local authority asked for a top-up while its earlier order is still to be sent."""

    def __init__(self, reference: str) -> None:
        super().__init__(
            "earlier-order-waiting",
            f"Order {reference} has not been sent yet. Order more once it has been sent, for "
            "the badges you need on top of it; or cancel it and place one order for the total.",
            field="staff_count",
            title="Your earlier order has not been sent yet",
        )
        self.reference = reference


def badges_sent(earlier: Sequence[EarlierOrder]) -> int:
    """Badges the account's earlier orders have had sent (what a top-up adds to)."""
    return sum(order.quantity for order in earlier if order.status in SENT)


def waiting_order(earlier: Sequence[EarlierOrder]) -> EarlierOrder | None:
    """The account's earliest order that has not been sent yet, if any."""
    return next((order for order in earlier if order.status in NOT_YET_SENT), None)


def is_top_up(kind: str, earlier: Sequence[EarlierOrder]) -> bool:
    """Whether the account's next order is a top-up.

    Only a local authority tops up, and only once badges have been sent to it: an order that
    was cancelled or refused sent nothing, so the next one is a first order again. Raises
    EarlierOrderWaiting while an earlier order is still to be sent.
    """
    if kind not in MAY_TOP_UP:
        return False
    waiting = waiting_order(earlier)
    if waiting is not None:
        raise EarlierOrderWaiting(waiting.reference)
    return badges_sent(earlier) > 0


def check_order_shape(
    kind: str, *, lines_given: bool, deliver_to_given: bool, staff_count: int | None
) -> None:
    """A CQC provider orders for its locations; any other account gives one staff number and
    its badges go to the address it registered. Raises OrderRefused naming the field."""
    if orders_to_own_address(kind):
        if lines_given or deliver_to_given:
            raise OrderRefused(
                "no-cqc-locations",
                "lines" if lines_given else "deliver_to_location_id",
                "Your account is not on the CQC register, so your order has no locations: "
                "give staff_count instead. The badges go to the address you registered.",
            )
        if staff_count is None:
            raise OrderRefused(
                "staff-count-required",
                "staff_count",
                "Give staff_count: the number of staff you employ now, one badge each.",
            )
        return
    if staff_count is not None:
        raise OrderRefused(
            "staff-count-not-for-cqc",
            "staff_count",
            "A CQC-registered provider orders for its locations: give lines and "
            "deliver_to_location_id, not staff_count.",
        )
    if not lines_given:
        raise OrderRefused("lines-required", "lines", "Give lines: one for each location.")
    if not deliver_to_given:
        raise OrderRefused(
            "delivery-location-required",
            "deliver_to_location_id",
            "Give deliver_to_location_id: one of the locations in this order.",
        )
