"""Dispatch's wiring: settings, runtime, handlers, routes. ``uvicorn services.dispatch.app:app``."""

from datetime import timedelta

from fastapi import FastAPI

from services.dispatch.api import courier as courier_api
from services.dispatch.api import shipments as shipments_api
from services.dispatch.api import stock as stock_api
from services.dispatch.handlers import closure, events, privacy
from services.dispatch.handlers.allocator import Allocator
from services.dispatch.settings import DispatchSettings
from services.dispatch.store import MIGRATIONS, gauges, ledger
from services.dispatch.store.tables import metadata
from services.dispatch.usecases import EMITS
from services.dispatch.usecases.placements import Placements
from shared.runtime import Service


class DispatchService(Service):
    """The shared runtime, holding dispatch's allocator so it can be woken from outside (after
    an operator clears a parked placement's attempts, say)."""

    settings: DispatchSettings
    allocator: Allocator


def build(settings: DispatchSettings | None = None) -> DispatchService:
    settings = settings or DispatchSettings()
    service = DispatchService(settings, metadata=metadata, migrations_dir=MIGRATIONS, emits=EMITS)
    service.allocator = Allocator(
        Placements(service),
        batch=settings.allocator_batch,
        idle_seconds=settings.allocator_idle_seconds,
    )
    # Every consumer transaction takes the stock row first, as the allocator does: handlers
    # that share one would otherwise hold order rows while waiting for the stock, or take
    # rows in another order than its holder, and deadlock (docs/adr/0051, amendment).
    service.lock_first(ledger.lock_stock)
    events.register(service, service.allocator.kick)
    privacy.register(service)
    purge = closure.register(
        service, settings.courier_data_days_after_closure, settings.courier_data_check_seconds
    )
    # Background work runs with the service: started in this order, stopped in reverse.
    service.attach(purge)
    service.attach(service.allocator)
    every = timedelta(seconds=settings.metrics_refresh_seconds)
    service.attach(gauges.refresher(service.db, service.name, every))
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
