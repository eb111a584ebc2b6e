"""Reporting's wiring. ``uvicorn services.reporting.app:app``."""

from pathlib import Path

from fastapi import FastAPI

from services.reporting.api import mi, page
from services.reporting.api.report import Rules
from services.reporting.handlers import events
from services.reporting.settings import ReportingSettings
from services.reporting.store import housekeeping
from services.reporting.store.tables import metadata
from shared.runtime import Service


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    """Build one reporting instance; tests build several side by side."""
    settings = settings or ReportingSettings()
    service = Service(settings, metadata, Path(__file__).parent / "store" / "migrations")
    events.register(service)
    rules = Rules(settings.suppression_threshold, settings.workforce_estimate)
    app = service.http_app(
        mi.router(service, rules),
        page.router(service, rules),
        title="CARE badges: reporting",
        description="Anonymised management information for DHSC.",
    )
    housekeeping.install(
        app, service.db, settings.order_id_retention_days, settings.housekeeping_interval_seconds
    )
    return app


app = create_app()
