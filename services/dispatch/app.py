"""Dispatch's wiring: settings, runtime, handlers, routes. ``uvicorn services.dispatch.app:app``."""

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.dispatch.api import courier as courier_api
from services.dispatch.api import shipments as shipments_api
from services.dispatch.api import stock as stock_api
from services.dispatch.handlers import closure, events, privacy
from services.dispatch.handlers.allocator import Allocator
from services.dispatch.handlers.fulfilment import Fulfilment
from services.dispatch.metrics import GaugeRefresher
from services.dispatch.settings import DispatchSettings
from services.dispatch.store.tables import metadata
from shared.events import (
    CourierHandoff,
    DeliveryAddressChangeRefused,
    OrderDelivered,
    OrderDispatched,
    ParcelReturned,
    StockReceived,
    StockReleased,
    StockReserved,
    StockWaitlisted,
    SubjectDataProvided,
)
from shared.runtime import Service


class DispatchService(Service):
    """The shared runtime plus dispatch's own background work: the allocator, which decides
    recorded placements in placement order, and the business gauges."""

    settings: DispatchSettings

    def __init__(self, settings: DispatchSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.allocator = Allocator(
            Fulfilment(self),
            batch=settings.allocator_batch,
            idle_seconds=settings.allocator_idle_seconds,
        )
        self.gauges = GaugeRefresher(self.db, self.name, settings.metrics_refresh_seconds)

    async def start(self) -> None:
        await super().start()
        self.allocator.start()
        self.gauges.start()

    async def stop(self) -> None:
        await self.gauges.stop()
        await self.allocator.stop()
        await super().stop()


def build(settings: DispatchSettings | None = None) -> DispatchService:
    service = DispatchService(
        settings or DispatchSettings(),
        metadata=metadata,
        migrations_dir=Path(__file__).parent / "store" / "migrations",
        emits=(
            StockReceived,
            StockReserved,
            StockWaitlisted,
            StockReleased,
            OrderDispatched,
            OrderDelivered,
            ParcelReturned,
            DeliveryAddressChangeRefused,
            CourierHandoff,
            SubjectDataProvided,
        ),
    )
    events.register(service, service.allocator.kick)
    privacy.register(service, Fulfilment(service))
    service.attach(
        closure.register(
            service,
            service.settings.courier_data_days_after_closure,
            service.settings.courier_data_check_seconds,
        )
    )
    return service


def create_app(settings: DispatchSettings | None = None) -> FastAPI:
    """Build one dispatch instance; tests build several side by side."""
    service = build(settings)
    return service.http_app(
        stock_api.router(service),
        courier_api.router(service),
        shipments_api.router(service),
        title="CARE badges: dispatch",
        description=(
            "Badge stock, reservations and waitlist, shipments and courier status. "
            "CourierHandoff, the courier integration's contract, is in /asyncapi.json."
        ),
    )


app = create_app()
