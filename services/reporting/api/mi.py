"""Management information for DHSC analysts: JSON and CSV, small counts suppressed.

- ``/api/mi/summary``: every figure's total to date, flat (metric -> value);
- ``/api/mi/figures`` (and ``.csv``): the page's figures: stages, queues, times, stock,
  the run-out forecast, share of the workforce reached;
- ``/api/mi/daily`` (and ``.csv``): national figures per day with running totals;
- ``/api/mi/breakdowns/{dimension}`` (and ``.csv``): totals by region, local authority,
  organisation type or CQC registration;
- ``/api/mi/breakdowns/{dimension}/daily`` (and ``.csv``): one figure per day for each value.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from services.reporting.api import report
from services.reporting.domain.figures import METRICS, suppress_row
from services.reporting.store import repository
from shared.http.auth import Principal, require_role
from shared.http.problems import Problem
from shared.runtime import Service

#: Who may read the figures: DHSC's analysts, and operations (who watch stock and queues).
READERS = ("dhsc_analyst", "operations")

Dimension = Literal["region", "local_authority", "org_type", "cqc"]
MetricQuery = Annotated[list[str] | None, Query(description="Figures to include (default: all).")]


def json_response(data: Any) -> Response:
    """JSON written straight from plain data (FastAPI's encoder is slow on long series)."""
    return Response(json.dumps(data, separators=(",", ":")), media_type="application/json")


def csv_response(header: list[str], rows: Iterable[Iterable[Any]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def csv_field(value: object) -> str:
    """One CSV field, quoted when it must be (a local authority's name may hold a comma)."""
    text = str(value)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def series_csv(
    header: list[str], data: dict[str, Any], by_series_first: bool, filename: str
) -> Response:
    """Columns of per-day figures as CSV rows, written directly (27,000 rows for local
    authorities by day: the csv module's per-row cost would be most of the answer's time)."""
    days: list[str] = data["days"]
    lines = [",".join(header)]
    if by_series_first:
        for name, columns in data["series"].items():
            label = csv_field(name)
            lines += [
                f"{label},{day},{value},{running}"
                for day, value, running in zip(
                    days, columns["value"], columns["cumulative"], strict=True
                )
            ]
    else:
        series = [(csv_field(n), c["value"], c["cumulative"]) for n, c in data["series"].items()]
        for i, day in enumerate(days):
            lines += [f"{day},{label},{value[i]},{running[i]}" for label, value, running in series]
    return Response(
        "\n".join(lines) + "\n",
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _check_metrics(metrics: list[str] | None) -> list[str] | None:
    unknown = sorted(set(metrics or []) - set(METRICS))
    if unknown:
        raise Problem(
            400,
            "unknown-metric",
            "Unknown figure",
            f"There is no figure called {', '.join(unknown)}. Known: {', '.join(METRICS)}.",
        )
    return metrics


#: The key that names each item of a list in the figures (an age band, a time band, a day).
_LIST_LABELS = ("age", "time", "day")


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    """Nested figures as (dotted.name[label], value) rows for the summary CSV."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), inner)
    elif isinstance(value, list):
        for item in value:
            key = next(k for k in _LIST_LABELS if k in item)
            rest = {k: v for k, v in item.items() if k != key}
            yield from _flatten(f"{prefix}[{item[key]}]", rest)
    else:
        yield prefix, "" if value is None else value


def figures_csv_file(data: dict[str, Any]) -> Response:
    """The summary's figures as (figure, value) rows: the same names and values as the JSON."""
    return csv_response(["figure", "value"], _flatten("", data), "care-badges-figures.csv")


def daily_csv_file(data: dict[str, Any]) -> Response:
    return series_csv(
        ["day", "metric", "value", "cumulative"], data, False, "care-badges-daily.csv"
    )


def breakdown_csv_file(dimension: str, rows: list[dict[str, Any]]) -> Response:
    metrics = list(rows[0]["figures"]) if rows else []
    return csv_response(
        [dimension, *metrics],
        ([r["value"], *(r["figures"][m] for m in metrics)] for r in rows),
        f"care-badges-by-{dimension.replace('_', '-')}.csv",
    )


def router(service: Service, rules: report.Rules) -> APIRouter:
    api = APIRouter(prefix="/api/mi", tags=["management information"])
    analyst = Depends(require_role(service.verifier, *READERS))

    @api.get("/summary")
    async def summary(principal: Principal = analyst) -> dict[str, int | str]:
        """Totals to date for every figure, small counts suppressed."""
        async with service.db.transaction() as session:
            totals = await repository.totals(session)
        full = {m: totals.get(m, 0) for m in sorted(set(totals) | set(METRICS))}
        shown = suppress_row(full, rules.threshold)
        return {m: v for m, v in shown.items() if m in totals or v == 0}

    @api.get("/figures")
    async def figures(principal: Principal = analyst) -> dict[str, Any]:
        """The summary's figures: every stage, the review queue and waitlist, time to
        dispatch (median, 90th percentile), stock, the run-out forecast, workforce reached."""
        async with service.db.transaction() as session:
            return await report.figures(session, rules)

    @api.get("/figures.csv")
    async def figures_csv(principal: Principal = analyst) -> Response:
        """The summary's figures as (figure, value) rows."""
        async with service.db.transaction() as session:
            return figures_csv_file(await report.figures(session, rules))

    @api.get("/daily")
    async def daily(principal: Principal = analyst, metric: MetricQuery = None) -> dict[str, Any]:
        """National figures per day (England's calendar) with running totals."""
        async with service.db.transaction() as session:
            series = await report.daily(session, rules, _check_metrics(metric))
        return {"suppression": rules.suppression, "series": series}

    @api.get("/daily.csv")
    async def daily_csv(principal: Principal = analyst, metric: MetricQuery = None) -> Response:
        """Each day's figures as CSV for spreadsheets, small counts suppressed."""
        async with service.db.transaction() as session:
            return daily_csv_file(await report.daily(session, rules, _check_metrics(metric)))

    @api.get("/breakdowns/{dimension}.csv")
    async def breakdown_csv(dimension: Dimension, principal: Principal = analyst) -> Response:
        """Totals to date for every value of a dimension, as CSV."""
        async with service.db.transaction() as session:
            return breakdown_csv_file(dimension, await report.breakdown(session, rules, dimension))

    @api.get("/breakdowns/{dimension}")
    async def breakdown(dimension: Dimension, principal: Principal = analyst) -> Response:
        """Totals to date for every value of a dimension (one table, suppressed as a whole)."""
        async with service.db.transaction() as session:
            rows = await report.breakdown(session, rules, dimension)
        return json_response(
            {
                "dimension": dimension,
                "label": report.DIMENSION_LABELS[dimension],
                "suppression": rules.suppression,
                "rows": rows,
            }
        )

    @api.get("/breakdowns/{dimension}/daily.csv")
    async def breakdown_daily_csv(
        dimension: Dimension,
        principal: Principal = analyst,
        metric: Annotated[str, Query()] = "orders_placed",
    ) -> Response:
        """One figure per day for every value of a dimension, as CSV."""
        _check_metrics([metric])
        async with service.db.transaction() as session:
            data = await report.breakdown_daily(session, rules, dimension, metric)
        return series_csv(
            [dimension, "day", metric, "cumulative"],
            data,
            True,
            f"care-badges-{metric.replace('_', '-')}-by-{dimension.replace('_', '-')}-daily.csv",
        )

    @api.get("/breakdowns/{dimension}/daily")
    async def breakdown_daily(
        dimension: Dimension,
        principal: Principal = analyst,
        metric: Annotated[str, Query()] = "orders_placed",
    ) -> Response:
        """One figure per day for every value of a dimension, with running totals, as columns
        (``days``, and for each value its ``value`` and ``cumulative`` on those days)."""
        _check_metrics([metric])
        async with service.db.transaction() as session:
            data = await report.breakdown_daily(session, rules, dimension, metric)
        return json_response(
            {"dimension": dimension, "metric": metric, "suppression": rules.suppression, **data}
        )

    return api
