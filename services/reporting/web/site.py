"""Reporting's pages: staff sign-in, the MI page and its downloads, for DHSC and operations.

Sign-in is the shared staff sign-in (shared/web/staff_sign_in.py), as the back office uses:
the page session keeps identity's tokens and every page checks the role. The downloads are
the API's CSV files (usecases/downloads.py) served behind the same session, so a signed-in
analyst's links work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.reporting.usecases import downloads, report
from services.reporting.usecases.downloads import CsvFile
from services.reporting.web import mi_page
from shared.runtime import Service
from shared.web import Site
from shared.web.csrf import require_csrf
from shared.web.staff_sign_in import (
    IdentityClient,
    SignedIn,
    StaffPages,
    add_password_pages,
    add_sign_in_pages,
    handle_sign_in_errors,
    signed_in,
)

TEMPLATES = Path(__file__).parent / "templates"
STYLESHEET = Path(__file__).with_name("mi.css")
SERVICE_NAME = "CARE badges management information"

Download = Literal[
    "figures.csv", "daily.csv", "region.csv", "local_authority.csv", "org_type.csv", "cqc.csv"
]


def navigation(request: Request) -> list[dict[str, Any]]:
    if not signed_in(request):
        return []
    path = request.url.path
    return [
        {"href": "/mi", "text": "Management information", "active": path == "/mi"},
        {"href": "/sign-out", "text": "Sign out"},
    ]


def build() -> Site:
    return Site(SERVICE_NAME, TEMPLATES, service_url="/mi", navigation=navigation)


def attachment(file: CsvFile) -> Response:
    return Response(
        file.text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{file.name}"'},
    )


def routers(
    service: Service, identity: IdentityClient, rules: report.Rules, pages: Site
) -> list[APIRouter]:
    """The sign-in pages, and the figures behind the analyst or operations role."""
    readers = StaffPages(service.verifier, identity, report.READERS, bearer_too=True)
    public = APIRouter(dependencies=[Depends(require_csrf)], include_in_schema=False)
    add_sign_in_pages(
        public,
        pages,
        identity,
        title="Sign in to management information",
        who_for="For DHSC analysts and operations staff.",
        home="/mi",
    )
    add_password_pages(public, pages, identity)

    @public.get("/")
    async def home() -> Response:
        return RedirectResponse("/mi", status_code=303)

    @public.get("/mi/mi.css")
    async def stylesheet() -> Response:
        return Response(
            STYLESHEET.read_text(),
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    private = APIRouter(include_in_schema=False)

    @private.get("/mi", response_class=HTMLResponse)
    async def page(request: Request, who: SignedIn = Depends(readers)) -> HTMLResponse:
        async with service.db.transaction() as session:
            figures = await report.figures(session, rules)
            daily = await report.daily(session, rules, mi_page.PAGE_METRICS)
            # Local authorities (150 rows) are a download, not part of the page.
            breakdowns = {
                d: await report.breakdown(session, rules, d) for d in ("region", "org_type", "cqc")
            }
        return pages.render(
            request,
            "mi.html",
            title="Management information",
            **mi_page.context(figures, daily, breakdowns),
        )

    @private.get("/mi/downloads/{name}")
    async def download(name: Download, who: SignedIn = Depends(readers)) -> Response:
        async with service.db.transaction() as session:
            if name == "figures.csv":
                return attachment(downloads.figures_file(await report.figures(session, rules)))
            if name == "daily.csv":
                return attachment(downloads.daily_file(await report.daily(session, rules)))
            dimension = name.removesuffix(".csv")
            rows = await report.breakdown(session, rules, dimension)
        return attachment(downloads.breakdown_file(dimension, rows))

    return [public, private]


def handle_errors(app: FastAPI, pages: Site) -> None:
    handle_sign_in_errors(
        app,
        pages,
        "You do not have access to management information",
        "Only DHSC analysts and operations staff can see these figures.",
    )
