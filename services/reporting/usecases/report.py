"""The figures DHSC sees, assembled from the counters with every disclosure rule applied.

JSON, CSV and the page all come from here, so they can never disagree or bypass suppression.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import accumulate
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain import durations
from services.reporting.domain.facts import NOT_KNOWN
from services.reporting.domain.figures import (
    LABELS,
    METRICS,
    ORDER_METRICS,
    SUPPRESSED,
    Shown,
    governing,
    hidden_in_column,
    is_small,
    rounded,
    suppress,
    suppress_row,
    suppress_table,
)
from services.reporting.domain.forecast import forecast_run_out
from services.reporting.domain.progress import DIMENSIONS, LONDON, REVIEW, STAGES, WAITLIST
from services.reporting.store import repository
from shared.usecases import Invalid

#: Who may read the figures: DHSC's analysts, and operations (who watch stock and queues).
READERS = ("dhsc_analyst", "operations")

#: Stock figures that are sums of orders' badges (received is not: it is the warehouse's).
ROUNDED_STOCK = frozenset({"stock_reserved", "stock_released", "stock_allocated"})

DIMENSION_LABELS = {
    "region": "Region",
    "local_authority": "Local authority",
    "org_type": "Organisation type",
    "cqc": "CQC registration",
}

#: Ages a waiting order is grouped by, in hours: (label, from, to).
AGE_BANDS = (
    ("Under 1 day", 0, 24),
    ("1 to 3 days", 24, 72),
    ("3 to 7 days", 72, 168),
    ("Over 7 days", 168, None),
)


@dataclass(frozen=True)
class Rules:
    threshold: int
    workforce_estimate: int
    #: Every figure about orders (and the stock that follows them) is shown rounded to this.
    rounding_base: int = 10

    @property
    def suppression(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "rule": (
                f"A count of orders from 1 to {self.threshold - 1} is shown as 'suppressed', and "
                "so are the badges and parcels of those orders. In a breakdown, when only one "
                "cell of a column is suppressed, the next smallest is suppressed too, so no "
                "hidden figure can be worked out from the total. Stock figures are not about "
                "organisations and are always shown."
                + (
                    f" Every other figure about orders, and the stock reserved, allocated, "
                    f"released and available, is rounded to the nearest {self.rounding_base}, "
                    "so no hidden figure can be worked out by subtracting shown ones, within "
                    "one table, across breakdowns or between the stages of the summary."
                    if self.rounding_base > 1
                    else ""
                )
            ),
            "rounding_base": self.rounding_base,
        }


def today() -> date:
    return datetime.now(LONDON).date()


class UnknownFigure(Invalid):
    """A figure asked for by a name the report does not have."""


def known(metrics: list[str] | None) -> list[str] | None:
    """The figures asked for, when the report has every one of them."""
    unknown = sorted(set(metrics or []) - set(METRICS))
    if unknown:
        raise UnknownFigure(
            "unknown-metric",
            f"There is no figure called {', '.join(unknown)}. Known: {', '.join(METRICS)}.",
            title="Unknown figure",
        )
    return metrics


async def summary(session: AsyncSession, rules: Rules) -> dict[str, int | str]:
    """Totals to date for every figure, flat, small counts suppressed: a figure no event has
    touched is left out unless it shows as 0."""
    totals = await repository.totals(session)
    full = {m: totals.get(m, 0) for m in sorted(set(totals) | set(METRICS))}
    shown = suppress_row(full, rules.threshold)
    return {m: v for m, v in shown.items() if m in totals or v == 0}


async def _waiting(
    session: AsyncSession, kind: str, now: datetime, threshold: int, base: int
) -> dict[str, Any]:
    orders, badges, oldest, bands = await repository.waiting(
        session, kind, now, [(low, high) for _, low, high in AGE_BANDS]
    )
    cells = {
        label: {"orders_waiting": o, "badges_waiting": b}
        for (label, _, _), (o, b) in zip(AGE_BANDS, bands, strict=True)
    }
    shown = suppress_table(cells, threshold, base)
    return {
        "orders": suppress(orders, threshold, base),
        "badges": suppress_row(
            {"orders_waiting": orders, "badges_waiting": badges}, threshold, base
        )["badges_waiting"],
        "oldest_since": oldest.isoformat() if oldest else None,
        "oldest_wait": durations.in_units((now - oldest).total_seconds()) if oldest else None,
        "by_age": [
            {
                "age": label,
                "orders": shown[label]["orders_waiting"],
                "badges": shown[label]["badges_waiting"],
            }
            for label, _, _ in AGE_BANDS
        ],
    }


async def figures(
    session: AsyncSession, rules: Rules, now: datetime | None = None
) -> dict[str, Any]:
    """Everything on the summary: totals by stage, queues, times, stock, forecast, reach."""
    now = now or datetime.now(UTC)
    totals = await repository.totals(session)
    base = rules.rounding_base
    shown = suppress_row({m: totals.get(m, 0) for m in ORDER_METRICS}, rules.threshold, base)
    stages = {
        stage: {"orders": shown[f"orders_{stage}"], "badges": shown[f"badges_{stage}"]}
        for stage in STAGES
    }
    histogram = await repository.dispatch_histogram(session)
    timed = sum(histogram.values())
    hidden_times = 0 < timed < rules.threshold
    received = totals.get("stock_received", 0)
    reserved_total = totals.get("stock_reserved", 0)
    released = totals.get("stock_released", 0)
    allocated = totals.get("stock_allocated", 0)
    held = reserved_total - released - allocated
    available = received - held - allocated
    daily = await repository.national_daily(session, ["stock_reserved", "stock_released"])
    net: dict[date, int] = defaultdict(int)
    for day, metric, value in daily:
        net[day] += value if metric == "stock_reserved" else -value
    # From rounded figures only: a quiet day's rate could otherwise be one order's badges.
    forecast = forecast_run_out(
        rounded(available, base),
        {day: rounded(value, base) for day, value in net.items()},
        now.astimezone(LONDON).date(),
    )
    placed_badges = totals.get("badges_placed", 0)
    delivered_badges = totals.get("badges_delivered", 0)
    dispatched_badges = totals.get("badges_dispatched", 0)
    return {
        "generated_at": now.isoformat(),
        "suppression": rules.suppression,
        "stages": stages,
        "parcels_dispatched": shown["parcels_dispatched"],
        "review_backlog": await _waiting(session, REVIEW, now, rules.threshold, base),
        "waitlist": await _waiting(session, WAITLIST, now, rules.threshold, base),
        "placed_to_dispatched": {
            "orders": suppress(timed, rules.threshold, base),
            "median": None
            if hidden_times
            else durations.in_units(durations.quantile(histogram, 0.5)),
            "p90": None if hidden_times else durations.in_units(durations.quantile(histogram, 0.9)),
            "by_time": [
                {"time": label, "orders": shown_n}
                for label, shown_n in dispatch_bands(histogram, rules)
            ],
            "method": DURATION_METHOD,
        },
        # Reservations and allocations are sums of orders' badges: rounded like them.
        "stock": {
            "received": received,
            "reserved": rounded(held, base),
            "allocated": rounded(allocated, base),
            "available": rounded(available, base),
            "released": rounded(released, base),
        },
        "forecast": forecast.to_json(),
        "workforce": {
            "estimate": rules.workforce_estimate,
            "badges_ordered": shown["badges_placed"],
            "badges_dispatched": shown["badges_dispatched"],
            "badges_delivered": shown["badges_delivered"],
            "share_ordered": _share(placed_badges, rules, shown["badges_placed"]),
            "share_dispatched": _share(dispatched_badges, rules, shown["badges_dispatched"]),
            "share_reached": _share(delivered_badges, rules, shown["badges_delivered"]),
            "method": (
                "Badges delivered (reached), dispatched and ordered, each divided by the "
                f"estimated adult social care workforce in England of {rules.workforce_estimate:,}."
                " One badge is one member of staff."
            ),
        },
    }


def _share(badges: int, rules: Rules, shown: Shown) -> float | str:
    """From the badges as shown (rounded), so the share tells no more than they do."""
    if isinstance(shown, str):
        return shown
    return round(shown / rules.workforce_estimate, 5)


Series = dict[str, Any]


async def daily(
    session: AsyncSession, rules: Rules, metrics: list[str] | None = None
) -> dict[str, Any]:
    """National figures per day with running totals, as columns:
    ``{"days": [...], "series": {metric: {"value": [...], "cumulative": [...]}}}``.

    A badge or parcel figure is hidden on a day (or in a running total) whose order count is.
    """
    wanted = known(metrics) or list(METRICS)
    needed = set(wanted) | {g for m in wanted if (g := governing(m))}
    rows = await repository.national_daily(session, needed)
    days = sorted({day for day, _, _ in rows})
    index = {day: i for i, day in enumerate(days)}
    values = {m: [0] * len(days) for m in needed}
    for day, metric, value in rows:
        values[metric][index[day]] = value
    totals = {m: list(accumulate(v)) for m, v in values.items()}

    base = rules.rounding_base

    def shown(column: dict[str, list[int]], metric: str) -> list[Shown]:
        rule = governing(metric)
        if rule is None:
            if metric in ROUNDED_STOCK:
                return [rounded(v, base) for v in column[metric]]
            return list(column[metric])
        return [
            SUPPRESSED if is_small(g, rules.threshold) else rounded(v, base)
            for v, g in zip(column[metric], column[rule], strict=True)
        ]

    return {
        "days": [d.isoformat() for d in days],
        "series": {m: {"value": shown(values, m), "cumulative": shown(totals, m)} for m in wanted},
    }


async def breakdown(session: AsyncSession, rules: Rules, dimension: str) -> list[dict[str, Any]]:
    """Totals to date for each value of a dimension, suppressed as one table."""
    cells = await repository.breakdown(session, dimension)
    full = {value: {m: row.get(m, 0) for m in ORDER_METRICS} for value, row in cells.items()}
    shown = suppress_table(full, rules.threshold, rules.rounding_base)
    order = sorted(shown, key=lambda v: (v == NOT_KNOWN, v))
    return [{"value": value, "figures": shown[value]} for value in order]


async def breakdown_daily(
    session: AsyncSession, rules: Rules, dimension: str, metric: str
) -> dict[str, Any]:
    """One figure per day for each value of a dimension, with running totals, as columns:
    ``{"days": [...], "series": {value: {"value": [...], "cumulative": [...]}}}``.

    Each day's column (and each day's running totals) is suppressed as one table.
    """
    known([metric])
    rule = governing(metric) or metric
    rows = await repository.breakdown_daily(session, dimension, metric)
    governed = (
        rows if rule == metric else await repository.breakdown_daily(session, dimension, rule)
    )
    cells = sorted(set(rows) | set(governed))
    spans = [(first, first + len(counts)) for first, counts in (*rows.values(), *governed.values())]
    start = min((a for a, _ in spans), default=0)
    end = max((b for _, b in spans), default=0)
    days = [date.fromordinal(n).isoformat() for n in range(start, end)]

    def matrix(source: dict[str, tuple[int, list[int]]]) -> list[list[int]]:
        out = []
        for cell in cells:
            first, counts = source.get(cell, (start, []))
            row = [0] * len(days)
            row[first - start : first - start + len(counts)] = counts
            out.append(row)
        return out

    figure = matrix(rows)
    count = figure if rule == metric else matrix(governed)
    threshold = rules.threshold

    def shown(figures: list[list[int]], counts: list[list[int]]) -> list[list[Shown]]:
        out: list[list[Shown]] = [[rounded(n, rules.rounding_base) for n in row] for row in figures]
        small_days = {i for row in counts for i, n in enumerate(row) if 0 < n < threshold}
        for i in small_days:
            for c in hidden_in_column([row[i] for row in counts], threshold):
                out[c][i] = SUPPRESSED
        return out

    daily_shown = shown(figure, count)
    running_figure = [list(accumulate(row)) for row in figure]
    running_count = running_figure if count is figure else [list(accumulate(row)) for row in count]
    running_shown = shown(running_figure, running_count)
    return {
        "days": days,
        "series": {
            v: {"value": daily_shown[i], "cumulative": running_shown[i]}
            for i, v in enumerate(cells)
        },
    }


DURATION_METHOD = (
    "Each dispatched order's time from being placed to being dispatched is counted in one of "
    f"{durations.PER_DECADE} log-spaced bands per factor of ten, from a millisecond to years. "
    "The median and 90th percentile are read from those counts, so each is within "
    f"{durations.RELATIVE_ERROR:.0%} of the true time, whether that is under a second or weeks. "
    "Each time is shown in the unit that fits it: seconds under a minute, minutes under an "
    "hour, hours under two days, then days."
)


def dispatch_bands(histogram: dict[int, int], rules: Rules) -> list[tuple[str, Shown]]:
    """Dispatched orders by how long they took from being placed, suppressed as one table."""
    cells = {label: {"orders_dispatched": n} for label, n in durations.by_band(histogram).items()}
    shown = suppress_table(cells, rules.threshold, rules.rounding_base)
    return [(label, shown[label]["orders_dispatched"]) for label in cells]


__all__ = [
    "AGE_BANDS",
    "DIMENSIONS",
    "DIMENSION_LABELS",
    "LABELS",
    "READERS",
    "Rules",
    "breakdown",
    "breakdown_daily",
    "daily",
    "dispatch_bands",
    "figures",
    "known",
    "summary",
    "today",
]
