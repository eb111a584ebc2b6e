"""The MI page's content: cards, server-drawn charts, and the data table under each chart.

Every number comes from :mod:`services.reporting.usecases.report`, exactly as the JSON and
CSV give it (suppression included), and every time is the ``text`` those carry, so the page,
the JSON and the CSV say the same thing in the same unit. The template (templates/mi.html)
lays it out with govuk-frontend's components.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

from markupsafe import Markup

from services.reporting.usecases import report
from services.reporting.web import charts
from services.reporting.web.charts import BLUE, GREEN, GREY, ORANGE, PURPLE, RED, Point, fmt

#: The stages the page's tables show, in order.
STAGE_NAMES = ("placed", "verified", "referred", "rejected", "dispatched", "delivered")

#: The national figures per day the page draws.
PAGE_METRICS = [
    "orders_placed",
    "orders_verified",
    "orders_dispatched",
    "orders_delivered",
    "stock_received",
    "stock_allocated",
    "stock_reserved",
    "stock_released",
]

#: The page's downloads: (file under /mi/downloads/, what it holds).
DOWNLOADS = (
    ("figures.csv", "Summary figures (CSV)"),
    ("daily.csv", "Every figure per day, with running totals (CSV)"),
    ("region.csv", "Totals by region (CSV)"),
    ("local_authority.csv", "Totals by local authority (CSV)"),
    ("org_type.csv", "Totals by organisation type (CSV)"),
    ("cqc.csv", "Totals by CQC registration (CSV)"),
)


#: Each breakdown's name inside a sentence.
CAPTIONS = {
    "region": "region",
    "local_authority": "local authority",
    "org_type": "organisation type",
    "cqc": "CQC registration",
}


def pct(value: object) -> str:
    return f"{value * 100:.1f}%" if isinstance(value, float) else fmt(value)


def duration_text(value: dict[str, Any] | None, none: str = "not enough orders yet") -> str:
    return str(value["text"]) if value else none


def long_day(day: str) -> str:
    parsed = date.fromisoformat(day)
    return f"{parsed.day} {parsed:%B %Y}"


def table(
    caption: str, head: list[str], rows: list[list[object]], caption_size: str = "m"
) -> dict[str, Any]:
    """govukTable's parameters: first column the row's name, the rest numbers."""
    return {
        "caption": caption,
        "captionClasses": f"govuk-table__caption--{caption_size}",
        "firstCellIsHeader": True,
        "head": [{"text": h, **({"format": "numeric"} if i else {})} for i, h in enumerate(head)],
        "rows": [
            [
                {"text": str(cell)} if i == 0 else {"text": fmt(cell), "format": "numeric"}
                for i, cell in enumerate(row)
            ]
            for row in rows
        ],
    }


def long_table(params: dict[str, Any]) -> Markup:
    """govukTable's markup for a long table of figures (a row per day: a thousand cells),
    written directly: the macro's per-cell attribute handling cost more than the page's
    queries at that size. Takes the same parameters as :func:`table` gives govukTable."""
    esc = charts.esc
    numeric = " govuk-table__header--numeric"
    head = "".join(
        f'<th scope="col" class="govuk-table__header{numeric if i else ""}">{esc(h["text"])}</th>'
        for i, h in enumerate(params["head"])
    )
    rows = "".join(
        '<tr class="govuk-table__row"><th scope="row" class="govuk-table__header">'
        f"{esc(row[0]['text'])}</th>"
        + "".join(
            f'<td class="govuk-table__cell govuk-table__cell--numeric">{esc(c["text"])}</td>'
            for c in row[1:]
        )
        + "</tr>"
        for row in params["rows"]
    )
    return Markup(  # noqa: S704 - every value above is escaped
        f'<table class="govuk-table"><caption class="govuk-table__caption '
        f'{params["captionClasses"]}">{esc(params["caption"])}</caption>'
        f'<thead class="govuk-table__head"><tr class="govuk-table__row">{head}</tr></thead>'
        f'<tbody class="govuk-table__body">{rows}</tbody></table>'
    )


def _cards(figures: dict[str, Any]) -> list[dict[str, str]]:
    stages, workforce = figures["stages"], figures["workforce"]
    backlog, times = figures["review_backlog"], figures["placed_to_dispatched"]
    forecast = figures["forecast"]
    if forecast["status"] == "forecast":
        stock_hint = (
            f"runs out between {long_day(forecast['earliest'])} and {long_day(forecast['latest'])}"
            if forecast["latest"]
            else f"runs out not before {long_day(forecast['earliest'])}"
        )
    else:
        stock_hint = {
            "run_out": "stock has run out",
            "no_recent_use": "no recent use, so no forecast",
            "too_little_data": "not enough data to forecast yet",
        }[forecast["status"]]
    return [
        {
            "label": "Orders placed",
            "value": fmt(stages["placed"]["orders"]),
            "hint": f"{fmt(stages['placed']['badges'])} badges",
        },
        {
            "label": "Badges dispatched",
            "value": fmt(workforce["badges_dispatched"]),
            "hint": f"{pct(workforce['share_dispatched'])} of the estimated workforce",
        },
        {
            "label": "Workforce reached",
            "value": pct(workforce["share_reached"]),
            "hint": f"{fmt(workforce['badges_delivered'])} badges delivered"
            f" of {workforce['estimate']:,}",
        },
        {
            "label": "Awaiting review",
            "value": fmt(backlog["orders"]),
            "hint": f"oldest waiting {backlog['oldest_wait']['text']}"
            if backlog["oldest_wait"]
            else "none waiting",
        },
        {
            "label": "Placed to dispatched, median",
            "value": duration_text(times["median"], "-"),
            "hint": f"90% within {times['p90']['text']}"
            if times["p90"]
            else "not enough orders dispatched yet",
        },
        {
            "label": "Stock available",
            "value": fmt(figures["stock"]["available"]),
            "hint": stock_hint,
        },
    ]


def _running(daily: dict[str, Any], metric: str) -> list[int]:
    return [int(v) for v in daily["series"][metric]["cumulative"]]


def _values(daily: dict[str, Any], metric: str, key: str) -> list[Point]:
    return list(daily["series"][metric][key])


def _stock_chart(figures: dict[str, Any], daily: dict[str, Any]) -> str:
    days: list[str] = daily["days"]
    stock, forecast = figures["stock"], figures["forecast"]
    received, allocated = _running(daily, "stock_received"), _running(daily, "stock_allocated")
    reserved, released = _running(daily, "stock_reserved"), _running(daily, "stock_released")
    available: list[Point] = [
        rec - (res - rel) for rec, res, rel in zip(received, reserved, released, strict=True)
    ]
    dashed: list[tuple[str, str, list[tuple[int, float]]]] = []
    axis_days = list(days)
    if forecast["status"] == "forecast" and len(days) >= charts.MIN_DAYS_FOR_LINE:
        # The forecast lines past today, at the average, busiest and quietest rates (cut at
        # half the chart's width so the history stays readable).
        horizon = max(min(math.ceil(forecast["days_left"]), max(len(days) // 2, 14)), 1)
        last = date.fromisoformat(days[-1])
        axis_days += [(last + timedelta(days=k)).isoformat() for k in range(1, horizon + 1)]
        start = (len(days) - 1, float(stock["available"]))
        for name, colour, rate in (
            ("Forecast at the average rate", RED, forecast["badges_per_day"]),
            ("At the busiest day's rate", GREY, forecast["badges_per_day_high"]),
            ("At the quietest day's rate", GREY, forecast["badges_per_day_low"]),
        ):
            end = max(stock["available"] - rate * horizon, 0.0)
            dashed.append((name, colour, [start, (len(days) - 1 + horizon, end)]))
    return charts.line_chart(
        "stock",
        "Badges in stock",
        "Running totals of badges received and allocated to parcels, and badges available, by "
        "day, with the forecast of available badges at the average, busiest and quietest of "
        "the recent daily rates.",
        axis_days,
        [
            ("Received", BLUE, list(received)),
            ("Allocated", ORANGE, list(allocated)),
            ("Available", GREEN, available),
        ],
        dashed,
    )


def context(
    figures: dict[str, Any], daily: dict[str, Any], breakdowns: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """What templates/mi.html shows."""
    days: list[str] = daily["days"]
    stages, stock = figures["stages"], figures["stock"]
    backlog, times = figures["review_backlog"], figures["placed_to_dispatched"]
    forecast, workforce = figures["forecast"], figures["workforce"]
    placed, dispatched = daily["series"]["orders_placed"], daily["series"]["orders_dispatched"]

    def dim_table(dimension: str) -> dict[str, Any]:
        return table(
            f"Orders by {CAPTIONS[dimension]}",
            [
                report.DIMENSION_LABELS[dimension],
                *[s.capitalize() for s in STAGE_NAMES],
                "Badges placed",
            ],
            [
                [
                    r["value"],
                    *[r["figures"][f"orders_{s}"] for s in STAGE_NAMES],
                    r["figures"]["badges_placed"],
                ]
                for r in breakdowns[dimension]
            ],
        )

    svg = {
        "pipeline": charts.line_chart(
            "pipeline",
            "Orders to date by stage",
            "Running totals of orders placed, verified, dispatched and delivered, by day.",
            days,
            [
                ("Placed", BLUE, _values(daily, "orders_placed", "cumulative")),
                ("Verified", PURPLE, _values(daily, "orders_verified", "cumulative")),
                ("Dispatched", ORANGE, _values(daily, "orders_dispatched", "cumulative")),
                ("Delivered", GREEN, _values(daily, "orders_delivered", "cumulative")),
            ],
        ),
        "per_day": charts.bar_chart(
            "per-day",
            "Orders placed each day",
            "Orders placed per day; an asterisk marks a suppressed day.",
            days,
            _values(daily, "orders_placed", "value"),
            every_label=len(days) <= 6,
        ),
        "stock": _stock_chart(figures, daily),
        "backlog": charts.bar_chart(
            "backlog",
            "Orders awaiting review, by time waiting",
            "Referred orders not yet decided, grouped by how long they have waited.",
            [a["age"] for a in backlog["by_age"]],
            [a["orders"] for a in backlog["by_age"]],
            colour=PURPLE,
        ),
        "times": charts.hbar_chart(
            "times",
            "Time from placed to dispatched",
            "Dispatched orders by how long they took from being placed.",
            [(b["time"], b["orders"]) for b in times["by_time"]],
        )
        if times["orders"]
        else charts.bar_chart(
            "times", "Time from placed to dispatched", "No orders dispatched yet.", [], []
        ),
        "regions": charts.hbar_chart(
            "regions",
            "Orders placed by region",
            "Orders placed to date in each region of England.",
            [(r["value"], r["figures"]["orders_placed"]) for r in breakdowns["region"]],
        ),
    }
    tables = {
        "daily": table(
            "Orders per day",
            ["Day", "Placed", "Placed to date", "Dispatched", "Dispatched to date"],
            [
                [
                    day,
                    placed["value"][i],
                    placed["cumulative"][i],
                    dispatched["value"][i],
                    dispatched["cumulative"][i],
                ]
                for i, day in enumerate(days)
            ],
        ),
        "stages": table(
            "Orders and badges by stage, to date",
            ["Stage", "Orders", "Badges"],
            [[s.capitalize(), v["orders"], v["badges"]] for s, v in stages.items()],
        ),
        "stock": table(
            "Stock, in badges",
            ["", "Badges"],
            [
                ["Received", stock["received"]],
                ["Reserved for orders", stock["reserved"]],
                ["Allocated to parcels", stock["allocated"]],
                ["Available", stock["available"]],
            ],
        ),
        "rates": table(
            "Badges reserved each full day the forecast rests on",
            ["Day", "Badges reserved (net)"],
            [[long_day(r["day"]), r["badges"]] for r in forecast["daily_rates"]],
        ),
        "backlog": table(
            "Orders awaiting review, by time waiting",
            ["Waiting", "Orders", "Badges"],
            [[a["age"], a["orders"], a["badges"]] for a in backlog["by_age"]],
        ),
        "times": table(
            "Orders dispatched, by time from placed to dispatched",
            ["Time taken", "Orders"],
            [[b["time"], b["orders"]] for b in times["by_time"]],
        ),
        "regions": dim_table("region"),
        "org_type": dim_table("org_type"),
        "cqc": dim_table("cqc"),
        "workforce": table(
            "Badges against the estimated workforce",
            ["", "Badges", "Share"],
            [
                ["Ordered", workforce["badges_ordered"], pct(workforce["share_ordered"])],
                ["Dispatched", workforce["badges_dispatched"], pct(workforce["share_dispatched"])],
                [
                    "Delivered (reached)",
                    workforce["badges_delivered"],
                    pct(workforce["share_reached"]),
                ],
            ],
        ),
    }
    return {
        "figures": figures,
        "generated": figures["generated_at"][:16].replace("T", " "),
        "cards": _cards(figures),
        "charts": {k: Markup(v) for k, v in svg.items()},  # noqa: S704 - drawn and escaped by charts
        "tables": tables,
        "long_tables": {"daily": long_table(tables["daily"])},
        "times_text": (
            f"Half of the orders dispatched took {times['median']['text']} or less from being "
            f"placed, and 90% took {times['p90']['text']} or less."
            if times["median"] and times["p90"]
            else "There are not enough dispatched orders yet to give times."
        ),
        "fmt": fmt,
        "downloads": [(f"/mi/downloads/{f}", text) for f, text in DOWNLOADS],
    }
