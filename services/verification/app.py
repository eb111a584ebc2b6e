"""Verification's wiring. ``uvicorn services.verification.app:app``."""

from pathlib import Path

from fastapi import FastAPI

from services.verification.api import reviews
from services.verification.handlers import events, privacy
from services.verification.settings import VerificationSettings
from services.verification.store import review_gauge
from services.verification.store.tables import metadata
from shared.events import OrderReferred, OrderRejected, OrderVerified, SubjectDataProvided
from shared.runtime import Service


def create_app(settings: VerificationSettings | None = None) -> FastAPI:
    """Build one verification instance; tests build several side by side."""
    settings = settings or VerificationSettings()
    service = Service(
        settings,
        metadata,
        Path(__file__).parent / "store" / "migrations",
        emits=(OrderVerified, OrderReferred, OrderRejected, SubjectDataProvided),
    )
    events.register(service, settings)
    privacy.register(service)
    app = service.http_app(
        reviews.router(service),
        title="CARE badges: verification",
        description="Automatic checks and the customer services review queue.",
    )
    review_gauge.install(app, service)
    return app


app = create_app()
