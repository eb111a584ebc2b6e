"""Dispatch's wiring: settings, runtime, handlers, routes. ``uvicorn services.dispatch.app:app``."""

from pathlib import Path

from fastapi import FastAPI

from services.dispatch.api import courier as courier_api
from services.dispatch.api import stock as stock_api
from services.dispatch.handlers import events
from services.dispatch.settings import DispatchSettings
from services.dispatch.store.tables import metadata
from shared.events import (
    CourierHandoff,
    OrderDelivered,
    OrderDispatched,
    StockReceived,
    StockReleased,
    StockReserved,
    StockWaitlisted,
)
from shared.runtime import Service


def build(settings: DispatchSettings | None = None) -> Service:
    service = Service(
        settings or DispatchSettings(),
        metadata,
        Path(__file__).parent / "store" / "migrations",
        emits=(
            StockReceived,
            StockReserved,
            StockWaitlisted,
            StockReleased,
            OrderDispatched,
            OrderDelivered,
            CourierHandoff,
        ),
    )
    events.register(service)
    return service


def create_app(settings: DispatchSettings | None = None) -> FastAPI:
    """Build one dispatch instance; tests build several side by side."""
    service = build(settings)
    return service.http_app(
        stock_api.router(service),
        courier_api.router(service),
        title="CARE badges: dispatch",
        description="Badge stock, reservations and waitlist, shipments and courier status.",
    )


app = create_app()
