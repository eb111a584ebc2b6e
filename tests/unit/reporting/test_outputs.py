"""Reporting's CSV writing and the MI page's rendering, from plain figures (no database)."""

from __future__ import annotations

import csv
import io
import re

from services.reporting.api import page
from services.reporting.api.mi import csv_field, series_csv
from services.reporting.domain.figures import SUPPRESSED
from services.reporting.store.repository import series_literal


def test_csv_fields_are_quoted_only_when_they_must_be() -> None:
    for value in ("Bristol, City of", 'The "Old" Vicarage', "line\nbreak", "Leeds", 12):
        field = csv_field(value)
        assert next(csv.reader(io.StringIO(field))) == [str(value)]
    assert csv_field("Leeds") == "Leeds"


def test_per_day_series_become_csv_rows_either_way_round() -> None:
    data = {
        "days": ["2026-11-22", "2026-11-23"],
        "series": {
            "Bristol, City of": {"value": [SUPPRESSED, 7], "cumulative": [SUPPRESSED, 9]},
            "Leeds": {"value": [0, 5], "cumulative": [0, 5]},
        },
    }
    by_value = series_csv(["la", "day", "orders", "cumulative"], data, True, "x.csv")
    rows = list(csv.reader(io.StringIO(bytes(by_value.body).decode())))
    assert rows == [
        ["la", "day", "orders", "cumulative"],
        ["Bristol, City of", "2026-11-22", "suppressed", "suppressed"],
        ["Bristol, City of", "2026-11-23", "7", "9"],
        ["Leeds", "2026-11-22", "0", "0"],
        ["Leeds", "2026-11-23", "5", "5"],
    ]
    by_day = series_csv(["day", "metric", "value", "cumulative"], data, False, "y.csv")
    rows = list(csv.reader(io.StringIO(bytes(by_day.body).decode())))
    assert [r[:2] for r in rows[1:]] == [
        ["2026-11-22", "Bristol, City of"],
        ["2026-11-22", "Leeds"],
        ["2026-11-23", "Bristol, City of"],
        ["2026-11-23", "Leeds"],
    ]
    assert by_day.headers["content-disposition"] == 'attachment; filename="y.csv"'


def test_a_series_starting_on_a_given_day_is_written_as_postgresql_reads_it() -> None:
    assert series_literal(739943, [3, 0, 5]) == "[739943:739945]={3,0,5}"


def _figures() -> dict[str, object]:
    stage = {"orders": 1200, "badges": 30000}
    return {
        "generated_at": "2026-11-23T12:00:00+00:00",
        "suppression": {"threshold": 5, "rule": "Counts from 1 to 4 are suppressed."},
        "stages": {
            s: dict(stage)
            for s in (
                "placed",
                "verified",
                "referred",
                "rejected",
                "cancelled",
                "waitlisted",
                "dispatched",
                "delivered",
            )
        }
        | {"rejected": {"orders": SUPPRESSED, "badges": SUPPRESSED}},
        "parcels_dispatched": 1300,
        "review_backlog": {
            "orders": 12,
            "badges": 200,
            "oldest_since": "2026-11-20T09:00:00+00:00",
            "oldest_age_hours": 75.0,
            "by_age": [
                {"age": "Under 1 day", "orders": 9, "badges": 150},
                {"age": "1 to 3 days", "orders": SUPPRESSED, "badges": SUPPRESSED},
                {"age": "3 to 7 days", "orders": SUPPRESSED, "badges": SUPPRESSED},
                {"age": "Over 7 days", "orders": 0, "badges": 0},
            ],
        },
        "waitlist": {"orders": 0, "badges": 0, "oldest_since": None, "oldest_age_hours": None},
        "placed_to_dispatched": {
            "orders": 1200,
            "median_hours": 3.5,
            "p90_hours": 30.0,
            "by_days": [{"days": "Under 1 day", "orders": 1000}, {"days": "1 day", "orders": 200}],
            "method": "histogram",
        },
        "stock": {"received": 100000, "reserved": 500, "allocated": 30000, "available": 69500},
        "forecast": {
            "status": "forecast",
            "run_out_on": "2027-01-30",
            "days_left": 68.2,
            "badges_per_day": 1018.5,
            "method": "Straight-line forecast.",
        },
        "workforce": {
            "estimate": 1_500_000,
            "badges_ordered": 30000,
            "badges_dispatched": 30000,
            "badges_delivered": 30000,
            "share_ordered": 0.02,
            "share_dispatched": 0.02,
            "share_reached": 0.02,
            "method": "Badges over the workforce.",
        },
    }


def test_the_page_draws_every_chart_as_accessible_svg_without_inline_styles() -> None:
    days = ["2026-11-21", "2026-11-22", "2026-11-23"]

    def column(values: list[object]) -> dict[str, list[object]]:
        return {"value": values, "cumulative": values}

    daily = {
        "days": days,
        "series": {
            m: column([SUPPRESSED, 400, 800]) if m.startswith("orders") else column([50000, 0, 0])
            for m in page.PAGE_METRICS
        },
    }
    figures = {f"orders_{s}": 7 for s in page.STAGE_NAMES} | {"badges_placed": 70}
    rows = [{"value": "London <script>", "figures": figures}]
    breakdowns = {"region": rows, "org_type": rows, "cqc": rows}
    html = page.render(_figures(), daily, breakdowns, [("Under 1 day", 1000), ("1 day", 200)])
    assert html.count('role="img"') == 6  # orders, per day, stock, review, times, regions
    assert len(re.findall(r"<title id=", html)) == 6 and html.count("<desc id=") == 6
    assert "style=" not in html and "<script>" not in html  # escaped, and no inline styles
    assert "London &lt;script&gt;" in html
    assert "runs out on 2027-01-30" in html and "3.1 days" in html
    assert "Forecast available" in html  # the dashed straight line to the run-out day
    assert "suppressed" in html
