"""Identity's wiring: settings, runtime, handlers, routes and the email relay.

Run with ``uvicorn services.identity.app:app``.
"""

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from services.identity.api import (
    accounts,
    add_location,
    corrections,
    passwords,
    portal,
    refusals,
    restriction,
    sign_in,
    subject_access,
)
from services.identity.api.live_sessions import EndedSessionsRefused
from services.identity.handlers import events
from services.identity.settings import IdentitySettings
from services.identity.store import MIGRATIONS
from services.identity.store.tables import email_outbox, metadata
from services.identity.usecases.context import Identity
from services.identity.usecases.housekeeping import Housekeeping
from shared.email import EmailRelay, sender_from_settings
from shared.events import (
    AccountAnonymised,
    AccountDetailsCorrected,
    AccountRegistered,
    AccountRegisteredForReporting,
    AccountRestricted,
    AccountRestrictionLifted,
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
            AccountRegisteredForReporting,
            LocationsAuthorised,
            AccountAnonymised,
            AccountDetailsCorrected,
            AccountRestricted,
            AccountRestrictionLifted,
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
    relay = EmailRelay(
        service.db,
        email_outbox,
        sender_from_settings(settings.email),
        service.name,
        poll_seconds=settings.email.relay_poll_seconds,
        max_attempts=settings.email.max_attempts,
    )
    service.attach(relay)
    context = Identity(service, settings, email_outbox, email_queued=relay.kick)
    service.attach(Housekeeping(service.db, lambda: context.clock()))
    app = service.http_app(
        sign_in.router(service),
        add_location.router(service),
        passwords.router(service),
        accounts.router(service),
        subject_access.router(service),
        restriction.router(service),
        portal.router(service),
        corrections.router(service),
        title="CARE badges: identity",
        description="Sign in, create an account, reset a password; tokens for every service.",
    )
    app.state.identity = context
    refusals.install(app)
    # A token whose session has ended (sign-out, reset, disabling) is refused here at once.
    app.add_middleware(EndedSessionsRefused, service=service)
    # The client address the brute-force limits count by: X-Forwarded-For is believed only
    # from the proxies configured (the public site's servers, a load balancer).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app


app = create_app()
