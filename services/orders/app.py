"""Orders' wiring: settings, runtime, handlers and routes. ``uvicorn services.orders.app:app``."""

from pathlib import Path

from fastapi import FastAPI

from services.orders.api import corrections
from services.orders.api import orders as orders_api
from services.orders.handlers import events, privacy
from services.orders.settings import OrdersSettings
from services.orders.store.tables import metadata
from shared.events import (
    DeliveryAddressChanged,
    OrderCancelled,
    OrderPlaced,
    SubjectDataProvided,
)
from shared.runtime import Service


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    """Build one orders instance; tests build several side by side."""
    settings = settings or OrdersSettings()
    service = Service(
        settings,
        metadata,
        Path(__file__).parent / "store" / "migrations",
        emits=(OrderPlaced, OrderCancelled, SubjectDataProvided, DeliveryAddressChanged),
    )
    events.register(service)
    privacy.register(service, settings)
    return service.http_app(
        orders_api.router(service),
        corrections.router(service),
        title="CARE badges: orders",
        description="Place and track CARE badge orders.",
    )


app = create_app()
