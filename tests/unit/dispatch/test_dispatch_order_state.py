"""The order state machine: every arrival order, every repeat, ends in one right place."""

from collections import Counter
from collections.abc import Iterable
from itertools import permutations

import pytest

from services.dispatch.domain import order_state
from services.dispatch.domain.order_state import Action, OrderFacts, State

PLACED, VERIFIED, CLOSED = "placed", "verified", "closed"


def run(events: Iterable[str], *, stock: bool = True) -> tuple[OrderFacts, list[Action]]:
    """Feed events to the machine as the handlers do; ``stock``: whether a placement fits."""
    facts = OrderFacts()
    actions: list[Action] = []
    for event in events:
        if event == PLACED:
            step = order_state.placed(facts, can_reserve=stock)
        elif event == VERIFIED:
            step = order_state.verified(facts)
        else:
            step = order_state.closed(facts)
        facts = step.after
        actions.extend(step.actions)
    return facts, actions


def held(actions: list[Action]) -> int:
    """Reservations still held: reserved minus released minus allocated."""
    n = Counter(actions)
    return n[Action.RESERVE] - n[Action.RELEASE] - n[Action.ALLOCATE]


@pytest.mark.parametrize("events", list(permutations([PLACED, VERIFIED])))
def test_placed_and_verified_in_either_order_allocate_once(events: tuple[str, ...]) -> None:
    facts, actions = run(events)
    assert facts == OrderFacts(State.ALLOCATED, placed=True, verified=True, closed=False)
    assert actions.count(Action.RESERVE) == 1
    assert actions.count(Action.ALLOCATE) == 1
    assert actions.index(Action.RESERVE) < actions.index(Action.ALLOCATE)


def test_verified_before_placed_only_remembers() -> None:
    step = order_state.verified(OrderFacts())
    assert step.actions == ()
    assert step.after == OrderFacts(State.PENDING, verified=True)


def test_placed_without_stock_waits_and_verification_does_not_ship_it() -> None:
    facts, actions = run([PLACED, VERIFIED], stock=False)
    assert facts.state is State.WAITLISTED
    assert actions == [Action.WAITLIST]


def test_waitlisted_and_verified_is_reserved_and_shipped_when_served() -> None:
    facts, _ = run([VERIFIED, PLACED], stock=False)
    step = order_state.reserved_from_waitlist(facts)
    assert step.actions == (Action.RESERVE, Action.ALLOCATE)
    assert step.after.state is State.ALLOCATED


def test_waitlisted_unverified_is_only_reserved_when_served() -> None:
    facts, _ = run([PLACED], stock=False)
    step = order_state.reserved_from_waitlist(facts)
    assert step.actions == (Action.RESERVE,)
    assert step.after.state is State.RESERVED


def test_serving_an_order_no_longer_waiting_does_nothing() -> None:
    facts, _ = run([PLACED, CLOSED], stock=False)
    assert order_state.reserved_from_waitlist(facts).actions == ()
    reserved, _ = run([PLACED])
    assert order_state.reserved_from_waitlist(reserved).actions == ()


def test_closing_a_reserved_order_releases_and_serves_the_waitlist() -> None:
    facts, actions = run([PLACED, CLOSED])
    assert actions == [Action.RESERVE, Action.RELEASE, Action.SERVE_WAITLIST]
    assert facts.state is State.RELEASED
    assert facts.closed


def test_closing_a_waitlisted_order_frees_its_place() -> None:
    facts, actions = run([PLACED, CLOSED], stock=False)
    assert actions == [Action.WAITLIST, Action.LEAVE_WAITLIST, Action.SERVE_WAITLIST]
    assert facts.state is State.RELEASED


def test_closed_before_placed_never_takes_stock() -> None:
    facts, actions = run([CLOSED, PLACED, VERIFIED])
    assert actions == []
    assert facts.closed
    assert facts.placed
    assert facts.state is State.PENDING


def test_closing_an_allocated_order_changes_nothing_but_says_why() -> None:
    allocated, _ = run([PLACED, VERIFIED])
    step = order_state.closed(allocated)
    assert step.actions == ()
    assert step.after.state is State.ALLOCATED
    assert "courier" in step.note


@pytest.mark.parametrize(
    "events",
    sorted(set(permutations([PLACED, VERIFIED, CLOSED, PLACED, VERIFIED, CLOSED]))),
)
@pytest.mark.parametrize("stock", [True, False])
def test_any_arrival_order_with_repeats_keeps_stock_straight(
    events: tuple[str, ...], stock: bool
) -> None:
    facts, actions = run(events, stock=stock)
    counts = Counter(actions)
    assert all(counts[a] <= 1 for a in (Action.RESERVE, Action.ALLOCATE, Action.RELEASE))
    before_close = events[: events.index(CLOSED)]
    shipped = stock and PLACED in before_close and VERIFIED in before_close
    assert (counts[Action.ALLOCATE] == 1) is shipped
    if shipped:
        assert facts.state is State.ALLOCATED
    elif PLACED in before_close:
        assert facts.state is State.RELEASED  # it held stock or a place, and gave it up
    else:
        assert facts.state is State.PENDING  # closed before it could take anything
    # Whatever was reserved is either allocated or given back: nothing stays held.
    assert held(actions) == 0
    assert facts.closed and facts.placed and facts.verified


def test_repeated_events_change_nothing() -> None:
    for facts in (run([PLACED])[0], run([PLACED, VERIFIED])[0], run([CLOSED])[0]):
        for step in (order_state.verified, order_state.closed):
            once = step(facts)
            twice = step(once.after)
            assert twice.after == once.after
            assert twice.actions == ()
        again = order_state.placed(facts, can_reserve=True)
        assert again.actions == ()


@pytest.mark.parametrize(
    ("events", "stock", "expected"),
    [
        ([], True, (Action.SCRUB_DELIVERY,)),
        ([PLACED], True, (Action.SCRUB_DELIVERY, Action.RELEASE, Action.SERVE_WAITLIST)),
        ([PLACED], False, (Action.SCRUB_DELIVERY, Action.LEAVE_WAITLIST, Action.SERVE_WAITLIST)),
        ([PLACED, CLOSED], True, (Action.SCRUB_DELIVERY,)),
    ],
)
def test_anonymising_scrubs_and_closes_orders_not_handed_over(
    events: list[str], stock: bool, expected: tuple[Action, ...]
) -> None:
    facts, _ = run(events, stock=stock)
    step = order_state.anonymised(facts)
    assert step.actions == expected
    assert step.after.closed


def test_anonymising_leaves_a_handed_over_order_to_the_courier() -> None:
    allocated, _ = run([PLACED, VERIFIED])
    step = order_state.anonymised(allocated)
    assert step.actions == ()
    assert step.after == allocated


def test_an_order_anonymised_before_placement_takes_no_stock() -> None:
    facts = order_state.anonymised(OrderFacts()).after
    step = order_state.placed(facts, can_reserve=True)
    assert step.actions == ()
    assert step.after.state is State.PENDING


def test_a_reservation_taken_back_for_an_earlier_order_returns_to_the_waitlist() -> None:
    held = OrderFacts(State.RESERVED, placed=True)
    step = order_state.requeued(held)
    assert step.after == OrderFacts(State.WAITLISTED, placed=True)
    assert step.actions == (Action.RELEASE, Action.WAITLIST)
    # Served again later, like any waiting order.
    again = order_state.reserved_from_waitlist(step.after)
    assert again.actions == (Action.RESERVE,) and again.after.state is State.RESERVED


@pytest.mark.parametrize(
    "facts",
    [
        OrderFacts(State.ALLOCATED, placed=True, verified=True),  # the parcel has left
        OrderFacts(State.WAITLISTED, placed=True),
        OrderFacts(State.RELEASED, placed=True, closed=True),
        OrderFacts(State.RESERVED, placed=True, closed=True),
    ],
)
def test_only_an_open_unallocated_reservation_can_be_taken_back(facts: OrderFacts) -> None:
    step = order_state.requeued(facts)
    assert step.actions == () and step.after == facts
