"""Reporting's wiring. ``uvicorn services.reporting.app:app``."""

from pathlib import Path

from fastapi import FastAPI

from services.reporting.api import mi
from services.reporting.handlers import events
from services.reporting.settings import ReportingSettings
from services.reporting.store.tables import metadata
from shared.runtime import Service


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    """Build one reporting instance; tests build several side by side."""
    settings = settings or ReportingSettings()
    service = Service(settings, metadata, Path(__file__).parent / "store" / "migrations")
    events.register(service)
    return service.http_app(
        mi.router(service, settings.suppression_threshold),
        title="CARE badges: reporting",
        description="Anonymised management information for DHSC.",
    )


app = create_app()
