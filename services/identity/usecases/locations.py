"""The locations an account may order for: telling other services when they change, and a
provider adding another of its locations from inside the account (issue 16, item 12).

Adding a location has the same checks, limits and audit as sign-in: the code must be one of
the register's codes for a location under the account's own email; every attempt passes the
brute-force guard for that email and the caller's address, in the same transaction as its
outcome; nothing changes once the portal has closed. The answer is a fresh token whose
``loc`` names the new location, so an order for it can be placed at once (ADR 0061).
"""

from __future__ import annotations

import hashlib
import time
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain.credentials import password_matches
from services.identity.store import audit, portal, repository
from services.identity.store import register as register_store
from services.identity.store.repository import Account
from services.identity.store.sessions import SignedIn
from services.identity.usecases import throttling
from services.identity.usecases.context import Identity
from services.identity.usecases.refusals import TooManyAttempts, service_closed
from services.identity.usecases.sessions import Issued, issue
from shared.events import AccountKind, Location, LocationsAuthorised
from shared.runtime import Service
from shared.usecases import Invalid, NotAllowed


def digest(account_id: UUID, locations: list[Location]) -> bytes:
    """The digest an account keeps of these locations once announced, whether by a
    LocationsAuthorised or by a first sign-in's registration (ADR 0082): the same either
    way, so a repeat sign-in with nothing new announces nothing."""
    return _digest_of(LocationsAuthorised(account_id=account_id, locations=locations))


def _digest_of(event: LocationsAuthorised) -> bytes:
    return hashlib.sha256(event.model_dump_json().encode()).digest()


async def announce_locations(
    service: Service,
    session: AsyncSession,
    account: Account,
    locations: list[Location],
    correlation_id: str,
) -> None:
    """Send LocationsAuthorised when the account's locations differ from those last announced
    (a first sign-in announces its own with the registration, ADR 0082): a location added or
    gone, or register details changed since (consumers upsert it). A repeat sign-in with
    nothing new sends nothing."""
    event = LocationsAuthorised(account_id=account.id, locations=locations)
    announced = _digest_of(event)
    if announced == account.locations_announced:
        return
    await service.emit(session, event, correlation_id)
    await repository.mark_announced(session, account.id, announced)


def code_not_recognised() -> Invalid:
    return Invalid(
        "location-code-not-recognised",
        "Enter the ODS code of a location whose email address on the CQC register is the one "
        "you signed in with (or its postcode, for a hospice, substance misuse or mental health "
        "community & hospital location).",
        field="code",
        title="That code does not match a location under your email address",
        errors=[{"field": "code", "message": "is not the code of a location under your email"}],
    )


async def add_location(
    ctx: Identity,
    account_id: UUID,
    session_id: str,
    code: str,
    client_host: str,
    correlation_id: str,
) -> Issued:
    """Add another of the account's locations by its code; fresh tokens that include it."""
    started = time.monotonic()
    now = ctx.clock()
    source = ctx.source_key(client_host)
    issued: Issued | None = None
    closed = False
    async with ctx.service.db.transaction() as session:
        account = await repository.account_by_id(session, account_id)
        if account is None or not account.active or account.kind != AccountKind.CQC:
            raise NotAllowed(
                "not-a-cqc-account",
                "Your account orders to the address it registered.",
                title="Only a CQC-registered provider adds locations",
            )
        subject = ctx.subject_key(account.email)
        admission = await throttling.admit_sign_in(ctx, session, subject, source, now)
        if not admission.decision.allowed:
            await audit.record(
                session, audit.Action.SIGN_IN_REFUSED, subject_key=subject, source_key=source
            )
        elif await portal.closure(session) is not None:
            closed = True
        else:
            candidates = await register_store.active_locations_for_email(session, account.email)
            matched = [loc.location_id for loc in candidates if password_matches(loc, code)]
            if not matched:
                await throttling.sign_in_failed(ctx, session, source, now)
                await audit.record(
                    session,
                    audit.Action.LOCATION_ADD_FAILED,
                    account_id=account.id,
                    subject_key=subject,
                    source_key=source,
                    failures=admission.counted.count,
                )
            else:
                added, held = await repository.authorise_and_list(session, account.id, matched)
                locations = [loc.as_event() for loc in held]
                await announce_locations(ctx.service, session, account, locations, correlation_id)
                await audit.record(
                    session,
                    audit.Action.LOCATION_ADDED,
                    account_id=account.id,
                    source_key=source,
                    locations=sorted(added),
                )
                if session_id:
                    throttling.sign_in_succeeded(admission)
                    live = UUID(session_id)
                    issued = await issue(ctx, session, account, locations, now, session_id=live)
                else:  # a token that names no session: a new one, opened as a sign-in opens it
                    counter = throttling.cleared_with_sign_in(admission)
                    signed_in = SignedIn(source_key=source, method="register", counter=counter)
                    issued = await issue(ctx, session, account, locations, now, signed_in=signed_in)
    # Refused after the commit: the attempt stays counted and audited.
    if not admission.decision.allowed:
        await ctx.uniform_delay(started)
        raise TooManyAttempts(admission.decision.retry_after)
    if closed:
        raise service_closed()
    if issued is None:
        await ctx.uniform_delay(started)
        raise code_not_recognised()
    return issued
