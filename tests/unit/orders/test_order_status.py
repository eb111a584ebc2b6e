"""An order's status moves forward whatever order its events arrive in."""

import itertools

import pytest

from services.orders.domain.order import (
    LocationNotAuthorised,
    OrderRefused,
    Status,
    advance,
    check_locations,
    moves_from,
    new_reference,
)

HAPPY = [Status.WAITLISTED, Status.IN_REVIEW, Status.VERIFIED, Status.DISPATCHED, Status.DELIVERED]


@pytest.mark.parametrize("arrival", list(itertools.permutations(HAPPY[2:])))
def test_any_arrival_order_of_verified_dispatched_delivered_ends_delivered(arrival: tuple) -> None:
    status = Status.PLACED
    for step in arrival:
        status = advance(status, step)
    assert status is Status.DELIVERED


def test_a_late_step_never_moves_an_order_back() -> None:
    assert advance(Status.DISPATCHED, Status.VERIFIED) is Status.DISPATCHED
    assert advance(Status.VERIFIED, Status.IN_REVIEW) is Status.VERIFIED


def test_rejection_and_cancellation_are_final_but_cannot_undo_a_dispatch() -> None:
    assert advance(Status.IN_REVIEW, Status.REJECTED) is Status.REJECTED
    assert advance(Status.REJECTED, Status.VERIFIED) is Status.REJECTED
    assert advance(Status.CANCELLED, Status.DISPATCHED) is Status.CANCELLED
    assert advance(Status.DISPATCHED, Status.CANCELLED) is Status.DISPATCHED


def test_references_are_unambiguous_and_distinct() -> None:
    refs = {new_reference() for _ in range(2000)}
    assert len(refs) == 2000
    assert all(not set(r[3:]) & set("ILOU") for r in refs)


def test_only_authorised_locations_can_be_ordered_and_delivery_is_one_of_them() -> None:
    check_locations(["A", "B"], frozenset({"A", "B"}), "B")
    with pytest.raises(LocationNotAuthorised) as refused:  # a NotAllowed: the API's 403
        check_locations(["A", "C"], frozenset({"A", "B"}), "A")
    assert "C" in refused.value.message
    with pytest.raises(OrderRefused, match="deliver"):
        check_locations(["A"], frozenset({"A", "B"}), "B")
    with pytest.raises(OrderRefused, match="once"):
        check_locations(["A", "A"], frozenset({"A"}), "A")


def test_the_statuses_a_step_moves_on_from_are_exactly_where_advance_takes_it() -> None:
    """The store decides a step in SQL from ``moves_from``: it must agree with ``advance``
    for every pair, and ``advance`` only ever answers the current status or the incoming."""
    for current in Status:
        for incoming in Status:
            expected = advance(current, incoming)
            assert expected in (current, incoming)
            moved = incoming if current in moves_from(incoming) else current
            assert moved is expected, (current, incoming)
