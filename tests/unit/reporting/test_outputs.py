"""Reporting's CSV writing and the MI page's rendering, from plain figures (no database)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from typing import Any

from services.reporting.api.mi import series_csv
from services.reporting.domain.durations import in_units
from services.reporting.domain.figures import SUPPRESSED
from services.reporting.domain.forecast import forecast_run_out
from services.reporting.store.repository import series_literal
from services.reporting.usecases.downloads import csv_field
from services.reporting.web import charts, mi_page
from services.reporting.web import site as web_site
from shared.web import FormErrors


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
            "oldest_wait": in_units(75 * 3600.0),
            "by_age": [
                {"age": "Under 1 day", "orders": 9, "badges": 150},
                {"age": "1 to 3 days", "orders": SUPPRESSED, "badges": SUPPRESSED},
                {"age": "3 to 7 days", "orders": SUPPRESSED, "badges": SUPPRESSED},
                {"age": "Over 7 days", "orders": 0, "badges": 0},
            ],
        },
        "waitlist": {"orders": 0, "badges": 0, "oldest_since": None, "oldest_wait": None},
        "placed_to_dispatched": {
            "orders": 1200,
            "median": in_units(0.42),
            "p90": in_units(7 * 60.0),
            "by_time": [
                {"time": "Under 1 second", "orders": 1000},
                {"time": "1 to 10 minutes", "orders": 200},
            ],
            "method": "log-spaced buckets",
        },
        "stock": {"received": 100000, "reserved": 500, "allocated": 30000, "available": 69500},
        "forecast": forecast_run_out(
            69_500,
            {date(2026, 11, 23) - timedelta(days=d): 1000 + d for d in range(1, 15)},
            date(2026, 11, 23),
        ).to_json(),
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


def render(figures: dict[str, Any], days: list[str]) -> str:
    def column(values: list[object]) -> dict[str, list[object]]:
        return {"value": values, "cumulative": values}

    orders = [SUPPRESSED, 400, 800][-len(days) :] if days else []
    stock = [50000, 0, 0][: len(days)]
    daily = {
        "days": days,
        "series": {
            m: column(list(orders)) if m.startswith("orders") else column(list(stock))
            for m in mi_page.PAGE_METRICS
        },
    }
    row = {f"orders_{s}": 7 for s in mi_page.STAGE_NAMES} | {"badges_placed": 70}
    rows = [{"value": "London <script>", "figures": row}]
    breakdowns = {"region": rows, "org_type": rows, "cqc": rows}
    template = web_site.build().env.get_template("mi.html")
    return template.render(
        request=None,
        cspNonce="nonce",
        errors=FormErrors(),
        navigation=[],
        title="Management information",
        **mi_page.context(figures, daily, breakdowns),
    )


def test_the_page_draws_every_chart_as_accessible_svg_with_its_data_under_it() -> None:
    html = render(_figures(), ["2026-11-21", "2026-11-22", "2026-11-23"])
    assert (
        html.count('<svg class="chart" viewBox') == 6
    )  # orders, day, stock, review, times, regions
    assert html.count('role="img"') == 7  # and GOV.UK's own crown in the header
    assert len(re.findall(r"<title id=", html)) == 6 and html.count("<desc id=") == 6
    assert "style=" not in html  # no inline styles under the CSP
    assert "London &lt;script&gt;" in html and "<script>" not in html
    assert "govuk-service-navigation" in html and "govuk-header" in html  # the site's layout
    assert html.count('class="govuk-details"') >= 4  # "Show the data" under the charts
    assert "Forecast at the average rate" in html  # the dashed lines past today
    assert "between " in html and "Show the data the forecast rests on" in html
    assert "0.4 seconds" in html and "90% within 7 minutes" in html  # the JSON's own text
    assert "oldest for 3.1 days" in html
    assert "suppressed" in html


def test_with_one_day_of_data_the_line_charts_draw_bars_and_say_why() -> None:
    html = render(_figures(), ["2026-11-23"])
    drawn = "".join(re.findall(r'<svg class="chart".*?</svg>', html, re.S))
    assert "<polyline" not in drawn and "<circle" not in drawn  # no lone dot
    assert html.count("Only 23 Nov so far: shown as bars until there are 2 days for a line") >= 2
    assert drawn.count("<rect") > 0


def test_a_chart_with_nothing_in_it_says_there_is_no_data_yet() -> None:
    svg = charts.bar_chart("t", "Title", "Description.", ["a", "b"], [0, 0])
    assert "No data yet." in svg and "<rect x" not in svg
