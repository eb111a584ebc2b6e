"""Management information for DHSC analysts: totals and daily figures, JSON and CSV."""

import csv
import io

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from services.reporting.domain.figures import suppress
from services.reporting.store import repository
from shared.http.auth import Principal, require_role
from shared.runtime import Service


def router(service: Service, threshold: int) -> APIRouter:
    api = APIRouter(prefix="/api/mi", tags=["management information"])
    analyst = Depends(require_role(service.verifier, "dhsc_analyst"))

    @api.get("/summary")
    async def summary(principal: Principal = analyst) -> dict[str, int | str]:
        """Totals to date for every figure, small counts suppressed."""
        async with service.db.transaction() as session:
            totals = await repository.totals(session)
        return {metric: suppress(value, threshold) for metric, value in sorted(totals.items())}

    @api.get("/daily.csv", response_class=PlainTextResponse)
    async def daily_csv(principal: Principal = analyst) -> PlainTextResponse:
        """Each day's figures as CSV for spreadsheets, small counts suppressed."""
        async with service.db.transaction() as session:
            rows = await repository.daily(session)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["day", "metric", "value"])
        for day, metric, value in rows:
            writer.writerow([day.isoformat(), metric, suppress(value, threshold)])
        return PlainTextResponse(
            out.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="care-badges-daily.csv"'},
        )

    return api
