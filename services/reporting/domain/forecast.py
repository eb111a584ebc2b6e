"""When stock runs out: a range from the spread of recent daily rates, with the days it rests on.

A single date from a single rate claims a precision the data does not have. Instead the
forecast takes the badges reserved (net of releases) on each recent full day, and says when
stock would run out at the average of those days, and at the quietest and the busiest of them:
the range is as wide as demand has actually varied. It refuses to forecast from fewer than
:data:`MIN_DAYS` full days, and in the first week after launch it uses only the last few days,
so the launch-day rush does not stand for demand the week after (docs/adr/0025).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

#: Full days of data needed before any forecast is made.
MIN_DAYS = 3
#: After the first week: the window of full days the rates come from.
WINDOW_DAYS = 14
#: In the first week after launch: only this many most recent full days.
RECENT_DAYS = 3
#: How long "the week after launch" is.
LAUNCH_WEEK_DAYS = 7


@dataclass(frozen=True)
class Forecast:
    status: str  # "forecast", "run_out", "no_recent_use", "too_little_data"
    available: int
    summary: str
    method: str
    badges_per_day: float | None = None
    badges_per_day_low: float | None = None
    badges_per_day_high: float | None = None
    run_out_on: date | None = None
    earliest: date | None = None
    latest: date | None = None  # None with status "forecast": the quietest day had no demand
    days_left: float | None = None
    window: tuple[date, date] | None = None
    daily: list[tuple[date, int]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def iso(d: date | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "status": self.status,
            "summary": self.summary,
            "available": self.available,
            "run_out_on": iso(self.run_out_on),
            "earliest": iso(self.earliest),
            "latest": iso(self.latest),
            "days_left": self.days_left,
            "badges_per_day": self.badges_per_day,
            "badges_per_day_low": self.badges_per_day_low,
            "badges_per_day_high": self.badges_per_day_high,
            "window_start": iso(self.window[0]) if self.window else None,
            "window_end": iso(self.window[1]) if self.window else None,
            "days_of_data": len(self.daily),
            "daily_rates": [{"day": d.isoformat(), "badges": n} for d, n in self.daily],
            "method": self.method,
        }


def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _run_out(today: date, available: int, rate: float) -> date | None:
    if rate <= 0:
        return None
    return today + timedelta(days=math.floor(available / rate))


def forecast_run_out(
    available: int, net_reserved_by_day: Mapping[date, int], today: date
) -> Forecast:
    """The forecast for ``available`` badges, given net badges reserved on each day."""
    used_days = sorted(d for d, n in net_reserved_by_day.items() if n and d <= today)
    launch = used_days[0] if used_days else None
    full_days = (today - launch).days if launch else 0  # days before today since launch
    first_week = full_days < LAUNCH_WEEK_DAYS
    span = min(RECENT_DAYS if first_week else WINDOW_DAYS, full_days)
    start, end = today - timedelta(days=span), today - timedelta(days=1)
    daily = [
        (start + timedelta(days=k), int(net_reserved_by_day.get(start + timedelta(days=k), 0)))
        for k in range(span)
    ]
    window = (start, end) if daily else None
    method = (
        "Badges reserved for orders each full day (net of reservations released), over the last "
        f"{WINDOW_DAYS} full days, or only the last {RECENT_DAYS} in the first week after "
        "launch so the launch-day rush does not stand for later demand. Stock available now is "
        "divided by the average of those days for the central date, and by the busiest and "
        "the quietest of them for the range. Today is left out because it is not over. It "
        f"assumes no more stock arrives. No forecast is made from fewer than {MIN_DAYS} full "
        "days."
    )
    common: dict[str, Any] = {
        "available": available,
        "method": method,
        "window": window,
        "daily": daily,
    }
    if available <= 0:
        return Forecast(
            "run_out", summary="Stock has run out: new orders wait for the next delivery.", **common
        )
    if len(daily) < MIN_DAYS:
        have = f"{len(daily)} full day{'s' if len(daily) != 1 else ''}" if daily else "none"
        return Forecast(
            "too_little_data",
            summary=(
                f"There is not enough data to forecast when stock runs out: a forecast needs "
                f"badges reserved on at least {MIN_DAYS} full days, and there "
                f"{'are' if len(daily) > 1 else 'is'} {have} so far."
            ),
            **common,
        )
    rates = [n for _, n in daily]
    mean = max(sum(rates) / len(rates), 0.0)
    low, high = max(min(rates), 0), max(max(rates), 0)
    if mean <= 0:
        return Forecast(
            "no_recent_use",
            summary=f"No badges were reserved from {long_date(start)} to {long_date(end)}, so "
            "there is no run-out forecast.",
            badges_per_day=0.0,
            badges_per_day_low=float(low),
            badges_per_day_high=float(high),
            **common,
        )
    central = _run_out(today, available, mean)
    earliest = _run_out(today, available, high)
    latest = _run_out(today, available, low)
    assert central is not None and earliest is not None
    days = f"{len(daily)} full days, {long_date(start)} to {long_date(end)}"
    spread = (
        f"between {long_date(earliest)} and {long_date(latest)}"
        if latest
        else f"not before {long_date(earliest)} (on the quietest day nothing was reserved, so "
        "there is no latest date)"
    )
    summary = (
        f"At the average of the last {days} ({mean:,.0f} badges a day, from {low:,} to "
        f"{high:,}), stock runs out around {long_date(central)}: {spread}."
    )
    return Forecast(
        "forecast",
        summary=summary,
        badges_per_day=round(mean, 1),
        badges_per_day_low=float(low),
        badges_per_day_high=float(high),
        run_out_on=central,
        earliest=earliest,
        latest=latest,
        days_left=round(available / mean, 1),
        **common,
    )
