"""Times that read true from under a second to weeks, and a stock forecast that shows its
range and its data, and says when there is too little (issue: MI that tells the truth)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from services.reporting.domain.durations import (
    BANDS,
    RELATIVE_ERROR,
    bucket_of,
    by_band,
    in_units,
    lower_edge,
    quantile,
    upper_edge,
)
from services.reporting.domain.forecast import MIN_DAYS, forecast_run_out


def histogram(seconds: list[float]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for s in seconds:
        counts[bucket_of(s)] = counts.get(bucket_of(s), 0) + 1
    return counts


def true_quantile(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return ordered[max(int(q * len(ordered) + 0.5) - 1, 0)]


@pytest.mark.parametrize(
    ("spread", "unit"),
    [
        ((0.2, 0.9), "seconds"),  # dispatched in under a second
        ((4 * 60, 12 * 60), "minutes"),
        ((2 * 3600, 9 * 3600), "hours"),
        ((2.5 * 86400, 9 * 86400), "days"),
    ],
)
def test_median_and_p90_are_within_six_percent_at_every_scale(
    spread: tuple[float, float], unit: str
) -> None:
    rng = random.Random(20)
    seconds = [rng.uniform(*spread) for _ in range(2000)]
    counts = histogram(seconds)
    for q in (0.5, 0.9):
        estimate = quantile(counts, q)
        assert estimate is not None
        assert abs(estimate / true_quantile(seconds, q) - 1) <= RELATIVE_ERROR + 0.01
        shown = in_units(estimate)
        assert shown is not None and shown["unit"] == unit


def test_orders_dispatched_in_under_a_second_do_not_read_as_half_an_hour() -> None:
    counts = histogram([0.3, 0.4, 0.4, 0.5, 0.8] * 20)
    median = in_units(quantile(counts, 0.5))
    assert median is not None
    assert median["unit"] == "seconds" and median["value"] == 0.4
    assert median["text"] == "0.4 seconds"
    assert by_band(counts)["Under 1 second"] == 100


def test_every_duration_falls_in_one_bucket_whose_edges_hold_it() -> None:
    for seconds in [0.0011, 0.5, 1.0, 9.99, 10.0, 61.0, 3600.0, 86400.0 * 3, 86400.0 * 40]:
        bucket = bucket_of(seconds)
        assert lower_edge(bucket) <= seconds < upper_edge(bucket)
    assert bucket_of(-2.0) == 0 and bucket_of(0.0) == 0  # clock skew is not a negative time


def test_each_figure_is_shown_in_the_unit_that_fits_it() -> None:
    assert in_units(0.42) == {
        "seconds": 0.42,
        "value": 0.4,
        "unit": "seconds",
        "text": "0.4 seconds",
    }
    assert in_units(1.0)["text"] == "1 second"  # type: ignore[index]
    assert in_units(59.97)["text"] == "1 minute"  # type: ignore[index]
    assert in_units(7 * 60)["text"] == "7 minutes"  # type: ignore[index]
    assert in_units(5.5 * 3600)["text"] == "5.5 hours"  # type: ignore[index]
    assert in_units(47 * 3600)["unit"] == "hours"  # type: ignore[index]
    assert in_units(3 * 86400)["text"] == "3 days"  # type: ignore[index]
    assert in_units(None) is None


def test_bands_cover_every_scale_in_order() -> None:
    labels = [label for label, _, _ in BANDS]
    counts = histogram([0.5, 5, 30, 300, 1800, 4 * 3600, 12 * 3600, 2 * 86400, 5 * 86400, 9e5])
    assert list(by_band(counts)) == labels
    assert list(by_band(counts).values()) == [1] * len(labels)


# --- the forecast ------------------------------------------------------------------------------

TODAY = date(2026, 12, 14)


def days_before(*amounts: int) -> dict[date, int]:
    """Badges reserved on the days before today, the last amount yesterday."""
    return {TODAY - timedelta(days=len(amounts) - i): n for i, n in enumerate(amounts)}


def test_one_day_of_orders_is_too_little_to_forecast_and_says_so() -> None:
    launch_day = forecast_run_out(50_000, {TODAY: 4_000}, TODAY)
    assert launch_day.status == "too_little_data" and launch_day.run_out_on is None
    assert "not enough data" in launch_day.summary and f"at least {MIN_DAYS}" in launch_day.summary
    next_day = forecast_run_out(50_000, days_before(4_000) | {TODAY: 100}, TODAY)
    assert next_day.status == "too_little_data"
    assert next_day.to_json()["daily_rates"] == [{"day": "2026-12-13", "badges": 4000}]


def test_the_forecast_is_a_range_from_the_spread_of_recent_days_with_its_data() -> None:
    used = days_before(*([900, 1100, 1000, 1200, 800, 1000, 1000] * 3))  # three weeks
    used[TODAY - timedelta(days=40)] = 99_999  # outside the window
    forecast = forecast_run_out(20_000, used, TODAY)
    data = forecast.to_json()
    assert forecast.status == "forecast"
    assert data["days_of_data"] == 14 and data["window_end"] == "2026-12-13"
    assert data["badges_per_day"] == 1000.0
    assert (data["badges_per_day_low"], data["badges_per_day_high"]) == (800.0, 1200.0)
    assert data["run_out_on"] == "2027-01-03"  # 20 days at 1,000 a day
    assert data["earliest"] == "2026-12-30"  # 16 days at the busiest day's 1,200
    assert data["latest"] == "2027-01-08"  # 25 days at the quietest day's 800
    assert "between 30 December 2026 and 8 January 2027" in data["summary"]
    assert sum(r["badges"] for r in data["daily_rates"]) == 14_000


def test_in_the_week_after_launch_the_recent_rate_is_used_not_the_launch_rush() -> None:
    used = days_before(30_000, 2_000, 1_500, 1_000, 1_000)  # launched five days ago
    forecast = forecast_run_out(30_000, used, TODAY)
    assert forecast.status == "forecast"
    assert [n for _, n in forecast.daily] == [1_500, 1_000, 1_000]  # the last three days
    assert forecast.badges_per_day == pytest.approx(1166.7, abs=0.1)
    # From the average since launch (7,100 a day) stock would "run out" in four days.
    assert forecast.days_left is not None and forecast.days_left > 25


def test_no_recent_use_and_run_out_are_said_plainly() -> None:
    assert forecast_run_out(0, days_before(5, 5, 5), TODAY).status == "run_out"
    quiet = forecast_run_out(500, days_before(100, *([0] * 14)), TODAY)
    assert quiet.status == "no_recent_use" and "No badges were reserved" in quiet.summary
    zero_day = forecast_run_out(3_000, days_before(100, 200, 0, 300, 100, 100, 200, 100), TODAY)
    assert zero_day.latest is None and "not before" in zero_day.summary
