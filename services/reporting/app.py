"""Reporting's wiring. ``uvicorn services.reporting.app:app``."""

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.reporting.api import mi
from services.reporting.handlers import events
from services.reporting.settings import ReportingSettings
from services.reporting.store.tables import metadata
from services.reporting.usecases import retention
from services.reporting.usecases.report import Rules
from services.reporting.web import site as web_site
from shared.runtime import Service
from shared.web import install
from shared.web.sessions import ExpiredSessionPurger
from shared.web.staff_sign_in import IdentityClient


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    """Build one reporting instance; tests build several side by side."""
    settings = settings or ReportingSettings()
    service = Service(settings, metadata, Path(__file__).parent / "store" / "migrations")
    events.register(service)
    rules = Rules(
        settings.suppression_threshold, settings.workforce_estimate, settings.rounding_base
    )
    identity = service.attach(
        IdentityClient(settings.identity_url, settings.identity_timeout_seconds)
    )
    pages = web_site.build()
    app = service.http_app(
        mi.router(service, rules),
        *web_site.routers(service, identity, rules, pages),
        title="CARE badges: reporting",
        description="Anonymised management information for DHSC.",
    )
    app.state.identity = identity
    store = install(
        app,
        pages,
        service.db,
        idle=timedelta(minutes=settings.session_idle_minutes),
        secure_cookies=settings.secure_cookies,
    )
    web_site.handle_errors(app, pages)
    service.attach(ExpiredSessionPurger(store))
    service.attach(
        retention.eraser(
            service.db,
            settings.order_id_retention_days,
            timedelta(seconds=settings.housekeeping_interval_seconds),
        )
    )
    return app


app = create_app()
