"""The MI page: the figures at a glance, as server-drawn SVG charts in the GOV.UK style.

No JavaScript and no inline styles (the platform's Content-Security-Policy allows neither): the
stylesheet is served beside the page, and each chart is plain SVG with a title, a description
and the same numbers as a table under "Show the data" for screen readers and copying. Every
number comes from :mod:`services.reporting.api.report`, so the page shows exactly what the
JSON and CSV do, suppression included.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from services.reporting.api import report
from services.reporting.domain.figures import SUPPRESSED
from shared.http.auth import Principal, bearer_token
from shared.http.problems import Problem
from shared.runtime import Service

#: Where a browser keeps the analyst's token until the shared sign-in pages exist.
TOKEN_COOKIE = "care_mi_token"  # noqa: S105 - a cookie name, not a secret
STYLESHEET = Path(__file__).with_name("mi.css")

BLUE, GREEN, ORANGE, PURPLE, RED, GREY = (
    "#1d70b8",
    "#00703c",
    "#f47738",
    "#4c2c92",
    "#d4351c",
    "#505a5f",
)
W, H = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40

Point = int | str | None


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: object) -> str:
    if value is None:
        return "-"
    if value == SUPPRESSED:
        return "suppressed"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def waited(hours: float) -> str:
    """A waiting time for people: hours up to two days, then days."""
    return f"{hours:,.1f} hours" if hours < 48 else f"{hours / 24:,.1f} days"


CAPTIONS = {
    "region": "region",
    "local_authority": "local authority",
    "org_type": "organisation type",
    "cqc": "CQC registration",
}


def pct(value: object) -> str:
    return f"{value * 100:.1f}%" if isinstance(value, float) else fmt(value)


def short_day(day: str) -> str:
    return date.fromisoformat(day).strftime("%-d %b")


def nice_max(value: float) -> float:
    """A round number at or above ``value`` for the top of an axis."""
    if value <= 0:
        return 1
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return 10.0 * power


def el(name: str, content: str = "", **attrs: object) -> str:
    """One element; attribute names use ``_`` for ``-`` and ``class_`` for ``class``."""
    text = "".join(
        f' {key.rstrip("_").replace("_", "-")}="{esc(value)}"' for key, value in attrs.items()
    )
    return f"<{name}{text}>{content}</{name}>"


def _n(value: float) -> str:
    return f"{value:.1f}"


def _axes(top: float, x_labels: Sequence[tuple[float, str]]) -> list[str]:
    parts = []
    for i in range(5):
        v = top * i / 4
        y = _n(H - BOTTOM - (H - TOP - BOTTOM) * i / 4)
        parts.append(el("line", class_="grid", x1=LEFT, x2=W - RIGHT, y1=y, y2=y))
        label = fmt(int(v)) if v == int(v) else fmt(v)
        parts.append(
            el("text", label, class_="tick", x=LEFT - 6, y=_n(float(y) + 4), text_anchor="end")
        )
    for x, label in x_labels:
        parts.append(
            el("text", esc(label), class_="tick", x=_n(x), y=H - BOTTOM + 18, text_anchor="middle")
        )
    parts.append(el("line", class_="axis", x1=LEFT, x2=W - RIGHT, y1=H - BOTTOM, y2=H - BOTTOM))
    return parts


def _svg(title: str, description: str, body: list[str], ident: str, height: int = H) -> str:
    return el(
        "svg",
        el("title", esc(title), id=f"{ident}-t")
        + el("desc", esc(description), id=f"{ident}-d")
        + "".join(body),
        class_="chart",
        viewBox=f"0 0 {W} {height}",
        role="img",
        aria_labelledby=f"{ident}-t {ident}-d",
        xmlns="http://www.w3.org/2000/svg",
    )


def _legend(series: Sequence[tuple[str, str]]) -> str:
    key = '<rect width="16" height="16" fill="{}"/>'
    items = "".join(
        el(
            "li",
            el("svg", key.format(esc(c)), class_="key", viewBox="0 0 16 16", aria_hidden="true")
            + esc(n),
        )
        for n, c in series
    )
    return el("ul", items, class_="legend")


def _x_ticks(days: Sequence[str], x_of: Callable[[int], float]) -> list[tuple[float, str]]:
    if not days:
        return []
    count = min(len(days), 6)
    picks = sorted({round(i * (len(days) - 1) / max(count - 1, 1)) for i in range(count)})
    return [(x_of(i), short_day(days[i])) for i in picks]


def line_chart(
    ident: str,
    title: str,
    description: str,
    days: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[Point]]],
    dashed: Sequence[tuple[str, str, Sequence[tuple[int, float]]]] = (),
) -> str:
    numbers: list[float] = [v for _, _, vals in series for v in vals if isinstance(v, int)]
    numbers += [v for _, _, pts in dashed for _, v in pts]
    top = nice_max(max(numbers, default=0))
    span = max(len(days) - 1, 1)

    def x_of(i: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * i / span

    def y_of(v: float) -> float:
        return H - BOTTOM - (H - TOP - BOTTOM) * v / top

    body = _axes(top, _x_ticks(days, x_of))
    for _, colour, values in series:
        segments: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(values):
            if isinstance(v, int):
                segments[-1].append((x_of(i), y_of(v)))
            elif segments[-1]:
                segments.append([])
        for seg in segments:
            if len(seg) == 1:
                body.append(el("circle", cx=_n(seg[0][0]), cy=_n(seg[0][1]), r=3, fill=colour))
            elif seg:
                points = " ".join(f"{_n(x)},{_n(y)}" for x, y in seg)
                body.append(el("polyline", class_="line", points=points, stroke=colour))
    for _, colour, pts in dashed:
        points = " ".join(f"{_n(x_of(i))},{_n(y_of(v))}" for i, v in pts)
        body.append(el("polyline", class_="line dashed", points=points, stroke=colour))
    legend = _legend([(n, c) for n, c, _ in series] + [(n, c) for n, c, _ in dashed])
    return _svg(title, description, body, ident) + legend


def bar_chart(
    ident: str,
    title: str,
    description: str,
    labels: Sequence[str],
    values: Sequence[Point],
    colour: str = BLUE,
    every_label: bool = True,
) -> str:
    top = nice_max(max((v for v in values if isinstance(v, int)), default=0))
    n = max(len(values), 1)
    slot = (W - LEFT - RIGHT) / n
    width = max(slot * 0.7, 1)

    def y_of(v: float) -> float:
        return H - BOTTOM - (H - TOP - BOTTOM) * v / top

    ticks = (
        [(LEFT + slot * (i + 0.5), lab) for i, lab in enumerate(labels)]
        if every_label
        else _x_ticks(labels, lambda i: LEFT + slot * (i + 0.5))
    )
    body = _axes(top, ticks)
    for i, v in enumerate(values):
        x = LEFT + slot * i + (slot - width) / 2
        if isinstance(v, int):
            y = y_of(v)
            body.append(
                el(
                    "rect",
                    x=_n(x),
                    y=_n(y),
                    width=_n(width),
                    height=_n(H - BOTTOM - y),
                    fill=colour,
                )
            )
        elif v == SUPPRESSED:
            body.append(
                el(
                    "text",
                    "*",
                    class_="note",
                    x=_n(x + width / 2),
                    y=H - BOTTOM - 6,
                    text_anchor="middle",
                )
            )
    return _svg(title, description, body, ident)


def hbar_chart(ident: str, title: str, description: str, rows: Sequence[tuple[str, Point]]) -> str:
    height = 24 * len(rows) + 24
    label_w = 200
    numbers = [v for _, v in rows if isinstance(v, int)]
    top = nice_max(max(numbers, default=0))
    body = []
    for i, (label, v) in enumerate(rows):
        y = 12 + 24 * i
        body.append(
            el("text", esc(label), class_="tick", x=label_w - 8, y=y + 15, text_anchor="end")
        )
        if isinstance(v, int):
            w = (W - label_w - 80) * v / top
            body.append(el("rect", x=label_w, y=y + 3, width=_n(w), height=16, fill=BLUE))
            body.append(el("text", fmt(v), class_="tick", x=_n(label_w + w + 6), y=y + 15))
        else:
            body.append(el("text", fmt(v), class_="note", x=label_w, y=y + 15))
    return _svg(title, description, body, ident, height)


def table(
    caption: str, header: Sequence[str], rows: Sequence[Sequence[object]], numeric_from: int = 1
) -> str:
    def cls(base: str, i: int) -> str:
        return f"{base} num" if i >= numeric_from else base

    head = "".join(
        el("th", esc(h), scope="col", class_=cls("govuk-table__header", i))
        for i, h in enumerate(header)
    )
    body = "".join(
        el(
            "tr",
            "".join(
                el("th", esc(cell), scope="row", class_="govuk-table__header")
                if i == 0
                else el("td", esc(fmt(cell)), class_=cls("govuk-table__cell", i))
                for i, cell in enumerate(row)
            ),
            class_="govuk-table__row",
        )
        for row in rows
    )
    return el(
        "table",
        el("caption", esc(caption), class_="govuk-table__caption")
        + el("thead", el("tr", head))
        + el("tbody", body),
        class_="govuk-table",
    )


def details(summary: str, content: str) -> str:
    return el(
        "details",
        el(
            "summary",
            el("span", esc(summary), class_="govuk-details__summary-text"),
            class_="govuk-details__summary",
        )
        + el("div", content, class_="govuk-details__text"),
        class_="govuk-details",
    )


def card(label: str, value: str, hint: str = "") -> str:
    return el(
        "div",
        el("p", esc(label), class_="card__label")
        + el("p", esc(value), class_="card__value")
        + (el("p", esc(hint), class_="card__hint") if hint else ""),
        class_="card",
    )


def _values(daily: dict[str, Any], metric: str, key: str) -> list[Point]:
    return list(daily["series"][metric][key])


def render(
    figures: dict[str, Any],
    daily: dict[str, Any],
    breakdowns: dict[str, list[dict[str, Any]]],
    histogram_days: Sequence[tuple[str, Point]],
) -> str:
    stages = figures["stages"]
    stock = figures["stock"]
    forecast = figures["forecast"]
    backlog = figures["review_backlog"]
    times = figures["placed_to_dispatched"]
    workforce = figures["workforce"]
    days: list[str] = daily["days"]

    cards = "".join(
        [
            card(
                "Orders placed",
                fmt(stages["placed"]["orders"]),
                f"{fmt(stages['placed']['badges'])} badges",
            ),
            card(
                "Badges dispatched",
                fmt(workforce["badges_dispatched"]),
                f"{pct(workforce['share_dispatched'])} of the estimated workforce",
            ),
            card(
                "Workforce reached",
                pct(workforce["share_reached"]),
                f"{fmt(workforce['badges_delivered'])} badges delivered"
                f" of {workforce['estimate']:,}",
            ),
            card(
                "Awaiting review",
                fmt(backlog["orders"]),
                f"oldest waiting {waited(backlog['oldest_age_hours'])}"
                if backlog["oldest_age_hours"] is not None
                else "none waiting",
            ),
            card(
                "Placed to dispatched",
                f"{fmt(times['median_hours'])} h median",
                f"90% within {fmt(times['p90_hours'])} h",
            ),
            card(
                "Stock available",
                fmt(stock["available"]),
                f"runs out {forecast['run_out_on']}"
                if forecast["run_out_on"]
                else "no run-out forecast",
            ),
        ]
    )

    pipeline = line_chart(
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
    )
    per_day = bar_chart(
        "per-day",
        "Orders placed each day",
        "Orders placed per day; an asterisk marks a suppressed day.",
        days,
        _values(daily, "orders_placed", "value"),
        every_label=False,
    )

    def running(metric: str) -> list[int]:
        return [int(v) for v in daily["series"][metric]["cumulative"]]

    received, allocated = running("stock_received"), running("stock_allocated")
    reserved, released = running("stock_reserved"), running("stock_released")
    available_line: list[Point] = [
        rec - (res - rel) for rec, res, rel in zip(received, reserved, released, strict=True)
    ]
    dashed: list[tuple[str, str, list[tuple[int, float]]]] = []
    axis_days = list(days)
    if forecast["status"] == "forecast" and days and forecast["days_left"]:
        # The straight line to the run-out day, drawn past today (cut at half the chart).
        horizon = max(min(math.ceil(forecast["days_left"]), max(len(days) // 2, 14)), 1)
        last = date.fromisoformat(days[-1])
        axis_days += [(last + timedelta(days=k)).isoformat() for k in range(1, horizon + 1)]
        end = max(stock["available"] - forecast["badges_per_day"] * horizon, 0.0)
        dashed.append(
            (
                "Forecast available",
                RED,
                [(len(days) - 1, float(stock["available"])), (len(days) - 1 + horizon, end)],
            )
        )
    stock_chart = line_chart(
        "stock",
        "Badges in stock",
        "Running totals of badges received and allocated to parcels, and badges available, by day,"
        " with the straight-line forecast of available badges.",
        axis_days,
        [
            ("Received", BLUE, list(received)),
            ("Allocated", ORANGE, list(allocated)),
            ("Available", GREEN, available_line),
        ],
        dashed,
    )

    age = backlog["by_age"]
    backlog_chart = bar_chart(
        "backlog",
        "Orders awaiting review, by time waiting",
        "Referred orders not yet decided, grouped by how long they have waited.",
        [a["age"] for a in age],
        [a["orders"] for a in age],
        colour=PURPLE,
    )
    times_chart = bar_chart(
        "times",
        "Time from placed to dispatched",
        "Dispatched orders by the number of days they took from being placed.",
        [label for label, _ in histogram_days],
        [v for _, v in histogram_days],
        colour=ORANGE,
    )

    def dim_rows(dimension: str) -> list[tuple[str, Point]]:
        return [(r["value"], r["figures"]["orders_placed"]) for r in breakdowns[dimension]]

    region_chart = hbar_chart(
        "regions",
        "Orders placed by region",
        "Orders placed to date in each region of England.",
        dim_rows("region"),
    )

    def dim_table(dimension: str) -> str:
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

    stage_table = table(
        "Orders and badges by stage, to date",
        ["Stage", "Orders", "Badges"],
        [[s.capitalize(), v["orders"], v["badges"]] for s, v in stages.items()],
    )
    stock_table = table(
        "Stock, in badges",
        ["", "Badges"],
        [
            ["Received", stock["received"]],
            ["Reserved for orders", stock["reserved"]],
            ["Allocated to parcels", stock["allocated"]],
            ["Available", stock["available"]],
        ],
    )
    placed, dispatched = daily["series"]["orders_placed"], daily["series"]["orders_dispatched"]
    daily_table = table(
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
    )
    suppression = figures["suppression"]
    downloads = "".join(
        f'<li><a class="govuk-link" href="{esc(href)}">{esc(text)}</a></li>'
        for href, text in (
            ("/api/mi/figures.csv", "Summary figures (CSV)"),
            ("/api/mi/daily.csv", "Every figure per day, with running totals (CSV)"),
            ("/api/mi/breakdowns/region.csv", "Totals by region (CSV)"),
            ("/api/mi/breakdowns/local_authority.csv", "Totals by local authority (CSV)"),
            ("/api/mi/breakdowns/org_type.csv", "Totals by organisation type (CSV)"),
            ("/api/mi/breakdowns/cqc.csv", "Totals by CQC registration (CSV)"),
            ("/api/mi/figures", "Summary figures (JSON API)"),
        )
    )
    run_out = {
        "forecast": f"At the current rate of {fmt(forecast['badges_per_day'])} badges a day,"
        f" stock runs out on {forecast['run_out_on']} (in {fmt(forecast['days_left'])} days).",
        "run_out": "Stock has run out: new orders wait for the next delivery.",
        "no_recent_use": (
            "No badges were reserved in the last 14 days, so there is no run-out forecast."
        ),
    }[forecast["status"]]

    return f"""<!DOCTYPE html>
<html lang="en" class="govuk-template">
<head>
<meta charset="utf-8">
<title>Management information - CARE badges - GOV.UK</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/mi/mi.css">
</head>
<body class="govuk-template__body">
<a href="#main-content" class="govuk-skip-link">Skip to main content</a>
<header class="govuk-header"><div class="govuk-width-container govuk-header__container">
<span class="govuk-header__logotype">GOV.UK</span>
<span class="govuk-header__service-name">CARE badges</span>
</div></header>
<div class="govuk-width-container">
<div class="govuk-phase-banner"><strong class="govuk-tag">Official sensitive</strong>
<span>Anonymised management information for DHSC. Figures from 1 to {
        suppression["threshold"] - 1
    } orders are suppressed.</span></div>
<main class="govuk-main-wrapper" id="main-content">
<span class="govuk-caption-l">Management information</span>
<h1 class="govuk-heading-xl">CARE badges: progress to date</h1>
<p class="govuk-body">Figures at {esc(figures["generated_at"][:16].replace("T", " "))} UTC.</p>
<div class="cards">{cards}</div>

<h2 class="govuk-heading-l">Orders</h2>
<div class="grid"><figure>{pipeline}</figure><figure>{per_day}</figure></div>
{stage_table}
{details("Show the data: orders per day", daily_table)}

<h2 class="govuk-heading-l">Stock</h2>
<p class="govuk-body">{esc(run_out)}</p>
<div class="grid"><figure>{stock_chart}</figure><div>{stock_table}</div></div>
{details("How the forecast is worked out", f'<p class="govuk-body">{esc(forecast["method"])}</p>')}

<h2 class="govuk-heading-l">Review and dispatch</h2>
<div class="grid"><figure>{backlog_chart}</figure><figure>{times_chart}</figure></div>
<p class="govuk-body">{
        fmt(backlog["orders"])
    } orders are waiting for a decision by customer services;
{
        fmt(figures["waitlist"]["orders"])
    } orders are waiting for stock. Half of the orders dispatched took
{fmt(times["median_hours"])} hours or less from being placed, and 90% took {
        fmt(times["p90_hours"])
    } hours or less.</p>
{details("How the times are worked out", f'<p class="govuk-body">{esc(times["method"])}</p>')}

<h2 class="govuk-heading-l">Where orders come from</h2>
<figure>{region_chart}</figure>
{dim_table("region")}
{dim_table("org_type")}
{dim_table("cqc")}
<p class="govuk-body">Orders by local authority are in the downloads below.</p>

<h2 class="govuk-heading-l">Share of the workforce</h2>
<p class="govuk-body">{esc(workforce["method"])}</p>
{
        table(
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
        )
    }

<h2 class="govuk-heading-l">Downloads</h2>
<ul class="govuk-list">{downloads}</ul>
<h2 class="govuk-heading-m">About these figures</h2>
<p class="govuk-body">{esc(suppression["rule"])}</p>
<p class="govuk-body">Figures are counted from the service's events and hold no personal data.
Days are days in England.</p>
</main></div>
<footer class="govuk-footer">
<div class="govuk-width-container">Department of Health and Social Care</div></footer>
</body></html>"""


def router(service: Service, rules: report.Rules) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    async def viewer(request: Request) -> Principal:
        """An analyst's token from the Authorization header, or else from the page's cookie."""
        token = (
            request.cookies.get(TOKEN_COOKIE) if "authorization" not in request.headers else None
        )
        principal = service.verifier().verify(token or bearer_token(request))
        if principal.role != "dhsc_analyst":
            raise Problem(
                403,
                "forbidden",
                "You do not have access to this",
                "Management information is for DHSC analysts.",
            )
        return principal

    @pages.get("/mi", response_class=HTMLResponse)
    async def page(principal: Principal = Depends(viewer)) -> HTMLResponse:
        async with service.db.transaction() as session:
            figures = await report.figures(session, rules)
            daily = await report.daily(session, rules, PAGE_METRICS)
            # Local authorities (150 rows) are a download, not part of the page.
            breakdowns = {
                d: await report.breakdown(session, rules, d) for d in ("region", "org_type", "cqc")
            }
        bands = [(b["days"], b["orders"]) for b in figures["placed_to_dispatched"]["by_days"]]
        return HTMLResponse(render(figures, daily, breakdowns, bands))

    @pages.get("/mi/mi.css")
    async def stylesheet() -> Response:
        return Response(
            STYLESHEET.read_text(),
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    return pages


#: The stages the page's tables show, in order.
STAGE_NAMES = ("placed", "verified", "referred", "rejected", "dispatched", "delivered")

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
