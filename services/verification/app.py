"""Verification's wiring. ``uvicorn services.verification.app:app``."""

from pathlib import Path

from services.verification.api import reviews
from services.verification.handlers import events
from services.verification.settings import VerificationSettings
from services.verification.store.tables import metadata
from shared.events import OrderReferred, OrderRejected, OrderVerified
from shared.runtime import Service


def build(settings: VerificationSettings | None = None) -> Service:
    settings = settings or VerificationSettings()
    service = Service(
        settings,
        metadata,
        Path(__file__).parent / "store" / "migrations",
        emits=(OrderVerified, OrderReferred, OrderRejected),
    )
    events.register(service, settings)
    return service


service = build()
app = service.http_app(
    reviews.router(service),
    title="CARE badges: verification",
    description="Automatic checks and the customer services review queue.",
)
