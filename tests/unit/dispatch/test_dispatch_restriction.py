"""A restricted account's orders keep their stock but are not handed over until it is lifted."""

from services.dispatch.domain.order_state import (
    Action,
    OrderFacts,
    State,
    held_back,
    placed,
    restriction_lifted,
    verified,
)


def test_an_order_that_would_ship_is_held_with_its_reservation() -> None:
    reserved = OrderFacts(state=State.RESERVED, placed=True)
    step = held_back(verified(reserved))
    assert step.after == OrderFacts(state=State.RESERVED, placed=True, verified=True)
    assert Action.ALLOCATE not in step.actions

    # Verified first, then placed with stock: reserved, but not allocated.
    step = held_back(placed(OrderFacts(verified=True), can_reserve=True))
    assert step.after.state is State.RESERVED and step.actions == (Action.RESERVE,)


def test_steps_that_do_not_ship_are_left_alone() -> None:
    step = placed(OrderFacts(), can_reserve=False)
    assert held_back(step) == step


def test_lifting_ships_what_was_held_and_nothing_else() -> None:
    held = OrderFacts(state=State.RESERVED, placed=True, verified=True)
    step = restriction_lifted(held)
    assert step.after.state is State.ALLOCATED and step.actions == (Action.ALLOCATE,)
    for facts in (
        OrderFacts(state=State.RESERVED, placed=True),  # not verified yet
        OrderFacts(state=State.WAITLISTED, placed=True, verified=True),
        OrderFacts(state=State.RESERVED, placed=True, verified=True, closed=True),
        OrderFacts(state=State.ALLOCATED, placed=True, verified=True),
    ):
        assert restriction_lifted(facts).actions == ()
