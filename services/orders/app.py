"""Orders' wiring: settings, runtime, handlers and routes. ``uvicorn services.orders.app:app``."""

from pathlib import Path

from services.orders.api import orders as orders_api
from services.orders.handlers import events
from services.orders.settings import OrdersSettings
from services.orders.store.tables import metadata
from shared.events import OrderCancelled, OrderPlaced, SubjectDataProvided
from shared.runtime import Service


def build(settings: OrdersSettings | None = None) -> Service:
    service = Service(
        settings or OrdersSettings(),
        metadata,
        Path(__file__).parent / "store" / "migrations",
        emits=(OrderPlaced, OrderCancelled, SubjectDataProvided),
    )
    events.register(service)
    return service


service = build()
app = service.http_app(
    orders_api.router(service),
    title="CARE badges: orders",
    description="Place and track CARE badge orders.",
)
