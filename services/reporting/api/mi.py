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

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from services.reporting.usecases import downloads, report
from services.reporting.usecases.downloads import CsvFile
from shared.http.auth import Principal, require_role
from shared.http.problems import Problem
from shared.runtime import Service

Dimension = Literal["region", "local_authority", "org_type", "cqc"]
MetricQuery = Annotated[list[str] | None, Query(description="Figures to include (default: all).")]


def json_response(data: Any) -> Response:
    """JSON written straight from plain data (FastAPI's encoder is slow on long series)."""
    return Response(json.dumps(data, separators=(",", ":")), media_type="application/json")


def attachment(file: CsvFile) -> Response:
    """A CSV file as a download, under its own name."""
    return Response(
        file.text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{file.name}"'},
    )


def series_csv(
    header: list[str], data: dict[str, Any], by_series_first: bool, filename: str
) -> Response:
    """Columns of per-day figures as a CSV download (see :func:`downloads.series_file`)."""
    return attachment(downloads.series_file(header, data, by_series_first, filename))


@contextmanager
def known_figures() -> Iterator[None]:
    """An unknown figure's name is a bad request (400), as it always was here."""
    try:
        yield
    except report.UnknownFigure as refusal:
        raise Problem(400, refusal.code, refusal.title, refusal.message) from refusal


def router(service: Service, rules: report.Rules) -> APIRouter:
    api = APIRouter(prefix="/api/mi", tags=["management information"])
    analyst = Depends(require_role(service.verifier, *report.READERS))

    @api.get("/summary")
    async def summary(principal: Principal = analyst) -> dict[str, int | str]:
        """Totals to date for every figure, small counts suppressed."""
        async with service.db.transaction() as session:
            return await report.summary(session, rules)

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
            return attachment(downloads.figures_file(await report.figures(session, rules)))

    @api.get("/daily")
    async def daily(principal: Principal = analyst, metric: MetricQuery = None) -> dict[str, Any]:
        """National figures per day (England's calendar) with running totals."""
        with known_figures():
            async with service.db.transaction() as session:
                series = await report.daily(session, rules, metric)
        return {"suppression": rules.suppression, "series": series}

    @api.get("/daily.csv")
    async def daily_csv(principal: Principal = analyst, metric: MetricQuery = None) -> Response:
        """Each day's figures as CSV for spreadsheets, small counts suppressed."""
        with known_figures():
            async with service.db.transaction() as session:
                return attachment(downloads.daily_file(await report.daily(session, rules, metric)))

    @api.get("/breakdowns/{dimension}.csv")
    async def breakdown_csv(dimension: Dimension, principal: Principal = analyst) -> Response:
        """Totals to date for every value of a dimension, as CSV."""
        async with service.db.transaction() as session:
            rows = await report.breakdown(session, rules, dimension)
        return attachment(downloads.breakdown_file(dimension, rows))

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
        with known_figures():
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
        with known_figures():
            async with service.db.transaction() as session:
                data = await report.breakdown_daily(session, rules, dimension, metric)
        return json_response(
            {"dimension": dimension, "metric": metric, "suppression": rules.suppression, **data}
        )

    return api
