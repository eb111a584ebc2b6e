"""Orders' wiring: settings, runtime, handlers and routes. ``uvicorn services.orders.app:app``."""

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.orders.api import corrections
from services.orders.api import orders as orders_api
from services.orders.handlers import accounts, events, privacy
from services.orders.settings import OrdersSettings
from services.orders.store import state_gauge
from services.orders.store.tables import email_outbox, metadata
from services.orders.web import site as web_site
from services.orders.web import waiting_room
from shared.email import EmailRelay, sender_from_settings
from shared.events import (
    AccountHoldApplied,
    DeliveryAddressChanged,
    OrderCancelled,
    OrderPlaced,
    OrderPlacedForReporting,
    SubjectDataProvided,
)
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
        emits=(
            OrderPlaced,
            OrderPlacedForReporting,
            OrderCancelled,
            SubjectDataProvided,
            DeliveryAddressChanged,
            AccountHoldApplied,
        ),
    )
    events.register(service)
    accounts.register(service)
    privacy.register(service, settings)
    service.attach(
        EmailRelay(
            service.db,
            email_outbox,
            sender_from_settings(settings.email),
            service.name,
            poll_seconds=settings.email.relay_poll_seconds,
            max_attempts=settings.email.max_attempts,
        )
    )
    site = web_site.SiteRoutes(service, settings)
    app = service.http_app(
        orders_api.router(service),
        corrections.router(service),
        *site.routers(),
        title="CARE badges: orders",
        description="Place and track CARE badge orders; serves the public ordering site.",
    )
    waiting_room.install(app, service, settings, site.pages)  # inside the sessions
    store = install(
        app,
        site.pages,
        service.db,
        idle=timedelta(minutes=settings.session_idle_minutes),
        secure_cookies=settings.secure_cookies,
    )
    service.attach(ExpiredSessionPurger(store))
    service.attach(state_gauge.refresher(service))  # care_orders{state}, every 30 s
    return app


app = create_app()
