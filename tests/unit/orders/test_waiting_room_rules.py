"""The waiting room's pure rules: what it guards, how many come in, what a visitor is told."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.orders.domain.waiting_room import (
    RATE_WINDOW_SECONDS,
    RoomState,
    admissions_per_minute,
    ends_journey,
    estimated_wait_minutes,
    free_places,
    is_guarded,
    refresh_seconds,
    refresh_text,
    wait_text,
)
from services.orders.settings import OrdersSettings


@pytest.mark.parametrize(
    "path",
    ["/sign-in", "/create-account", "/create-account/confirm", "/order/locations", "/order"],
)
def test_the_order_journey_is_guarded(path: str) -> None:
    assert is_guarded(path)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/privacy",
        "/cookies",
        "/accessibility",
        "/contact",
        "/eligibility/who",
        "/cannot-use/unpaid-carer",
        "/assets/govuk-frontend.min.css",
        "/waiting-room",
        "/sign-out",
        "/signed-out",
        "/orders",  # a signed-in account's list, not the journey
        "/order/confirmation/0b1c",  # the journey's end
        "/sign-in-help",
        "/api/orders",
    ],
)
def test_pages_outside_the_journey_stay_open(path: str) -> None:
    assert not is_guarded(path)


def test_the_confirmation_and_signing_out_end_the_journey() -> None:
    assert ends_journey("/order/confirmation/0b1c", "GET")
    assert ends_journey("/sign-out", "POST")
    assert not ends_journey("/sign-out", "GET")  # the "are you sure" page
    assert not ends_journey("/order/check", "POST")


def test_free_places_follow_the_limit_and_the_rate() -> None:
    assert free_places(5, 0, 0, 0) == 5
    assert free_places(5, 5, 0, 0) == 0
    assert free_places(5, 7, 0, 0) == 0  # a lowered limit lets nobody in until it fits
    assert free_places(10, 2, 0, 0) == 8  # a raised limit admits more
    # 0.5 a second: at most 5 in any 10-second window, counting those admitted already.
    assert RATE_WINDOW_SECONDS == 10
    assert free_places(100, 0, 0.5, 0) == 5
    assert free_places(100, 0, 0.5, 3) == 2
    assert free_places(100, 0, 0.5, 9) == 0


def test_the_wait_estimate_uses_what_was_observed_once_there_is_enough() -> None:
    assert admissions_per_minute(50, 5.0, 1000, 8.0) == 10.0
    assert admissions_per_minute(3, 5.0, 1000, 8.0) == 200.0  # too few: limit / 5 minutes
    assert admissions_per_minute(0, 0.0, 1000, 1.0) == 60.0  # the rate caps it
    assert admissions_per_minute(0, 0.0, 1, 0.0) == 1.0


def test_in_the_first_minutes_the_pace_is_what_those_minutes_saw() -> None:
    # Two minutes into a launch, 960 let in: 480 a minute, not 960 / 5.
    assert admissions_per_minute(960, 2.0, 1000, 8.0) == 480.0
    # A burst in the first seconds is not taken for a minute's pace.
    assert admissions_per_minute(40, 0.1, 1000, 8.0) == 40.0
    # Admissions older than the window are not counted, so the span is at most 5 minutes.
    assert admissions_per_minute(500, 7.0, 1000, 8.0) == 100.0
    assert estimated_wait_minutes(1, 10.0) == 1
    assert estimated_wait_minutes(95, 10.0) == 10
    assert wait_text(1) == "about 1 minute"
    assert wait_text(25) == "about 25 minutes"
    assert wait_text(60) == "about 1 hour"
    assert wait_text(90) == "about 1.5 hours"


#: A waiting visitor unseen this long loses their place (orders' default, 10 minutes).
IDLE = 600.0


def test_the_front_of_the_queue_looks_often_and_the_back_rarely() -> None:
    assert refresh_seconds(1, 480.0, IDLE) == 5  # let in within the second: look again soon
    assert refresh_seconds(480, 480.0, IDLE) == 15  # a minute away: a quarter of it
    assert refresh_seconds(2_000, 480.0, IDLE) == 60  # four minutes away
    assert refresh_seconds(5_000, 480.0, IDLE) == 120  # ten minutes away: whole minutes
    assert refresh_seconds(10_000, 480.0, IDLE) == 300  # 20 minutes away and more
    assert refresh_seconds(1, 0.0, IDLE) == 120  # no pace yet: a tenth a minute, rounded down


def test_a_page_that_updates_by_itself_never_lets_its_visitor_lose_their_place() -> None:
    assert refresh_seconds(10_000, 480.0, 240.0) == 120  # looks twice within the idle time
    assert refresh_seconds(10_000, 480.0, 60.0) == 30  # the shortest idle time allowed


def test_a_waiting_idle_time_the_page_could_not_keep_up_with_is_refused() -> None:
    """Under a minute, a page looking every 5 s at the front would still miss it."""
    with pytest.raises(ValidationError, match="waiting_room_waiting_idle_minutes"):
        OrdersSettings(waiting_room_waiting_idle_minutes=0.05)


def looks_per_second(waiting: int, per_minute: float, waiting_idle_seconds: float) -> float:
    """How many waiting pages look again each second with ``waiting`` visitors queued."""
    return sum(
        1 / refresh_seconds(position, per_minute, waiting_idle_seconds)
        for position in range(1, waiting + 1)
    )


def test_a_launch_sized_queue_looks_again_a_few_hundred_times_a_second_not_five_hundred() -> None:
    """25,000 waiting, 8 let in a second: at least once a minute each was about 500 looks a
    second (each a write); up to 5 minutes apart for those far back, under half that."""
    assert 200 < looks_per_second(25_000, 480.0, IDLE) < 250


def test_the_page_says_how_often_it_updates_in_words() -> None:
    assert refresh_text(5) == "every 5 seconds"
    assert refresh_text(60) == "every minute"
    assert refresh_text(120) == "every 2 minutes"


def test_the_api_waits_while_anyone_queues_or_the_journey_is_full() -> None:
    assert not RoomState(waiting=0, admitted=4).full(5)
    assert RoomState(waiting=0, admitted=5).full(5)
    assert RoomState(waiting=1, admitted=0).full(5)
    assert not RoomState(waiting=9, admitted=9).full(0)  # the room is off
    assert RoomState(waiting=0, per_minute=60).retry_after_seconds() == 5
    assert RoomState(waiting=59, per_minute=10).retry_after_seconds() == 300
    assert RoomState(waiting=9, per_minute=6).retry_after_seconds() == 100
    assert RoomState(waiting=9, per_minute=6).retry_after_seconds(position=3) == 30
