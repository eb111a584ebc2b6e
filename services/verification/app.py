"""Verification's wiring. ``uvicorn services.verification.app:app``."""

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.verification.api import casework, reviews
from services.verification.handlers import events, privacy
from services.verification.settings import VerificationSettings
from services.verification.store import review_gauge
from services.verification.store.tables import metadata
from services.verification.web import site as web_site
from shared.events import (
    DeliveryAddressChanged,
    OrderReferred,
    OrderRejected,
    OrderVerified,
    SubjectDataProvided,
)
from shared.identity import IdentityClient
from shared.runtime import Service
from shared.web import install
from shared.web.sessions import ExpiredSessionPurger


def create_app(settings: VerificationSettings | None = None) -> FastAPI:
    """Build one verification instance; tests build several side by side."""
    settings = settings or VerificationSettings()
    service = Service(
        settings,
        metadata,
        Path(__file__).parent / "store" / "migrations",
        emits=(
            OrderVerified,
            OrderReferred,
            OrderRejected,
            DeliveryAddressChanged,
            SubjectDataProvided,
        ),
    )
    events.register(service, settings)
    privacy.register(service)
    identity = service.attach(
        IdentityClient(settings.identity_url, settings.identity_timeout_seconds)
    )
    pages = web_site.build()
    app = service.http_app(
        reviews.router(service),
        casework.router(service, identity),
        *web_site.routers(service, identity, pages),
        title="CARE badges: verification",
        description="Automatic checks and the customer services back office.",
    )
    app.state.identity = identity
    store = install(
        app,
        pages,
        service.db,
        idle=timedelta(minutes=settings.session_idle_minutes),
        secure_cookies=settings.secure_cookies,
    )
    web_site.handle_auth_errors(app, pages)
    service.attach(ExpiredSessionPurger(store))
    service.attach(review_gauge.refresher(service))
    return app


app = create_app()
