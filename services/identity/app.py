"""Identity's wiring: settings, runtime, handlers and routes.

Run with ``uvicorn services.identity.app:app``.
"""

from fastapi import FastAPI

from services.identity.api import sign_in
from services.identity.handlers import events
from services.identity.settings import IdentitySettings
from services.identity.store import MIGRATIONS
from services.identity.store.tables import metadata
from shared.events import (
    AccountAnonymised,
    AccountRegistered,
    LocationsAuthorised,
    PortalClosed,
    SubjectAccessRequested,
)
from shared.runtime import Service


def build(settings: IdentitySettings | None = None) -> Service:
    service = Service(
        settings or IdentitySettings(),
        metadata,
        MIGRATIONS,
        emits=(
            AccountRegistered,
            LocationsAuthorised,
            AccountAnonymised,
            SubjectAccessRequested,
            PortalClosed,
        ),
    )
    events.register(service)
    return service


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    """Build one identity instance; tests build several side by side."""
    settings = settings or IdentitySettings()
    service = build(settings)
    return service.http_app(
        sign_in.router(service, settings),
        title="CARE badges: identity",
        description="Sign in and get a token to order CARE badges with.",
    )


app = create_app()
