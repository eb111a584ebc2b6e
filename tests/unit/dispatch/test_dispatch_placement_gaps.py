"""Placements recorded after a hole in the placement numbers wait a bounded moment (ADR 0011)."""

from __future__ import annotations

from services.dispatch.domain.placement_gaps import Ready, Recorded, ready

WAIT = 2.0


def test_placements_in_unbroken_order_are_all_ready() -> None:
    run = [Recorded(11, 10, 0.0), Recorded(12, 11, 0.0), Recorded(13, 12, 0.0)]
    assert ready(run, WAIT) == Ready(3)


def test_the_first_placement_ever_opens_the_sequence() -> None:
    assert ready([Recorded(7, None, 0.0), Recorded(9, 7, 5.0)], WAIT) == Ready(2)


def test_a_placement_after_a_hole_and_every_later_one_wait_for_the_missing_number() -> None:
    run = [Recorded(11, 10, 0.0), Recorded(13, 11, 0.5), Recorded(14, 13, 3.0)]
    assert ready(run, WAIT) == Ready(1, look_again_in=1.5)


def test_a_hole_is_passed_once_the_placement_after_it_has_waited() -> None:
    run = [Recorded(13, 11, 2.0), Recorded(14, 13, 0.0), Recorded(16, 14, 0.1)]
    assert ready(run, WAIT) == Ready(2, look_again_in=1.9)


def test_no_wait_decides_past_every_hole_at_once() -> None:
    assert ready([Recorded(13, 11, 0.0), Recorded(20, 13, 0.0)], 0.0) == Ready(2)
