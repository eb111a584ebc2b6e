"""First come, first served: strict by default, skip-ahead only when configured."""

from uuid import uuid4

from services.dispatch.domain.waitlist import Waiting, can_reserve_on_arrival, select


def _queue(*quantities: int) -> list[Waiting]:
    return [Waiting(order_id=uuid4(), quantity=q) for q in quantities]


def test_strict_serves_in_order_while_stock_lasts() -> None:
    queue = _queue(100, 50, 30)
    assert select(queue, 160, skip_ahead=False) == [queue[0].order_id, queue[1].order_id]


def test_strict_stops_at_the_first_order_that_does_not_fit() -> None:
    queue = _queue(100, 500, 10)
    # The 10 would fit in what is left, but it was placed after the 500 that does not.
    assert select(queue, 150, skip_ahead=False) == [queue[0].order_id]


def test_strict_head_too_big_blocks_everyone() -> None:
    queue = _queue(500, 1, 1)
    assert select(queue, 100, skip_ahead=False) == []


def test_skip_ahead_lets_later_orders_that_fit_through_in_order() -> None:
    queue = _queue(100, 500, 10, 45)
    chosen = select(queue, 150, skip_ahead=True)
    assert chosen == [queue[0].order_id, queue[2].order_id]


def test_exact_fit_is_served() -> None:
    queue = _queue(40, 60)
    assert select(queue, 100, skip_ahead=False) == [q.order_id for q in queue]


def test_nothing_available_serves_nobody() -> None:
    assert select(_queue(1), 0, skip_ahead=True) == []


def test_new_order_queues_behind_an_earlier_waiting_one_in_strict_mode() -> None:
    assert not can_reserve_on_arrival(10, 1000, earlier_waiting=True, skip_ahead=False)
    assert can_reserve_on_arrival(10, 1000, earlier_waiting=True, skip_ahead=True)


def test_new_order_reserves_only_if_it_fits() -> None:
    assert can_reserve_on_arrival(100, 100, earlier_waiting=False, skip_ahead=False)
    assert not can_reserve_on_arrival(101, 100, earlier_waiting=False, skip_ahead=False)
