"""Orders' wiring: settings, runtime, handlers and routes. ``uvicorn services.orders.app:app``."""

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.orders.api import orders as orders_api
from services.orders.handlers import events
from services.orders.settings import OrdersSettings
from services.orders.store.tables import metadata, web_sessions
from services.orders.web import site as web_site
from shared.events import OrderCancelled, OrderPlaced, SubjectDataProvided
from shared.runtime import Service
from shared.web import install
from shared.web.sessions import ExpiredSessionPurger


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    """Build one orders instance; tests build several side by side."""
    settings = settings or OrdersSettings()
    service = Service(
        settings,
        metadata,
        Path(__file__).parent / "store" / "migrations",
        emits=(OrderPlaced, OrderCancelled, SubjectDataProvided),
    )
    events.register(service)
    site = web_site.SiteRoutes(service, settings)
    app = service.http_app(
        orders_api.router(service),
        *site.routers(),
        title="CARE badges: orders",
        description="Place and track CARE badge orders; serves the public ordering site.",
    )
    store = install(
        app,
        site.pages,
        service.db,
        web_sessions,
        idle=timedelta(minutes=settings.session_idle_minutes),
        secure_cookies=settings.secure_cookies,
    )
    service.attach(ExpiredSessionPurger(store))
    return app


app = create_app()
