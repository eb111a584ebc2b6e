"""Signing in, renewing and signing out.

One form for everyone: an email address and a password. A CQC-registered provider's
"password" is the location's ODS code (its postcode for the categories FAQ 4 names) until
they choose a password of their own; an email covering several locations signs in once with
each location's code and can then order for all of them. Self-registered and staff accounts
use the password they chose.

Every attempt passes the brute-force guard first, in the same transaction as its outcome, and
an unknown email is treated exactly like a known one: same status, same body, same time.

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

import asyncio
import hashlib
import time
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.api.context import Identity, identity, too_many_attempts
from services.identity.domain.accounts import Role, may_sign_in_with_register
from services.identity.domain.credentials import password_matches
from services.identity.domain.devices import MAX_TOKEN_LENGTH as MAX_DEVICE_TOKEN_LENGTH
from services.identity.domain.devices import MAX_TOKENS as MAX_DEVICE_TOKENS
from services.identity.domain.passwords import MAX_LENGTH, needs_rehash, verify_password
from services.identity.domain.passwords import hash_password as make_hash
from services.identity.domain.register import RegisterLocation, fold_email
from services.identity.domain.secrets import digest, new_secret
from services.identity.domain.sessions import RevokedBecause
from services.identity.metrics import SIGN_IN_ATTEMPTS
from services.identity.store import audit, portal, repository
from services.identity.store import register as register_store
from services.identity.store import sessions as session_store
from services.identity.store.repository import Account
from shared.events import (
    AccountKind,
    AccountRegistered,
    AccountRegisteredForReporting,
    Location,
    LocationsAuthorised,
)
from shared.http.auth import Principal, require_role
from shared.http.problems import Problem
from shared.runtime import Service


class SignInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, StringConstraints(min_length=1, max_length=320)] = Field(
        description="The email address of the account, or the one CQC holds for the location."
    )
    password: Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH)] = Field(
        description="Your password; or, until you choose one, the location's ODS code (its "
        "postcode for hospices, substance misuse and mental health community & hospital "
        "locations)."
    )
    device_tokens: list[
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_DEVICE_TOKEN_LENGTH)]
    ] = Field(
        default_factory=list,
        max_length=MAX_DEVICE_TOKENS,
        description="The device tokens this browser was given at earlier successful sign-ins "
        "(the site keeps them in a cookie). One valid for this account counts the attempt "
        "apart from unknown sources, so guesses from elsewhere do not lock it out (ADR 0064).",
    )


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class SignedIn(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(
        description="Renews the access token at POST /api/token; sign-out ends it."
    )
    account_id: UUID
    role: str
    kind: str
    locations: list[Location] = Field(
        description="Every location this account may order for, as CQC describes it."
    )
    device_token: str = Field(
        "",
        description="For the browser that signed in to keep (a __Host- cookie) and present at "
        "its next sign-in to this account; empty on renewal.",
    )


def not_right() -> Problem:
    """One answer for an unknown email and a wrong code, so neither reveals which it was."""
    return Problem(
        401,
        "sign-in-failed",
        "Sign-in details not recognised",
        "The email address or password is not right. Check them and try again. If you have "
        "not chosen a password, use the email address CQC holds for your location and its "
        "ODS code (or its postcode if your location is a hospice, substance misuse or mental "
        "health community & hospital service).",
    )


def service_closed() -> Problem:
    """After closure, said plainly instead of "not recognised" (the closure is public)."""
    return Problem(
        403,
        "portal-closed",
        "The CARE badges service has closed",
        "Badges can no longer be ordered, and no account or location can be added. If you "
        "ordered before it closed, sign in with the email address and password (or the ODS "
        "code of a location) you used then to see your orders.",
    )


def _session_expired() -> Problem:
    return Problem(
        401,
        "session-ended",
        "You have been signed out",
        "Your sign-in has ended (you signed out, were inactive for too long, or your password "
        "changed). Sign in again.",
    )


async def _cqc_account(
    ctx: Identity,
    session: AsyncSession,
    email: str,
    password: str,
    correlation_id: str,
    closed: bool,
) -> tuple[Account, list[Location]] | None:
    """Sign in with a location's register codes; authorises every location they match."""
    candidates = await register_store.active_locations_for_email(session, email)
    matched = [loc for loc in candidates if password_matches(loc, password)]
    if not matched:
        return None
    if closed:
        return await _unchanged_account(session, email, matched)
    account = await repository.get_or_create_account(session, email, AccountKind.CQC, Role.PROVIDER)
    if account.password_hash or not may_sign_in_with_register(account.kind, account.status):
        return None
    if account.created:
        await ctx.service.emit(
            session,
            AccountRegistered(
                account_id=account.id,
                kind=AccountKind.CQC,
                email=email,
                organisation_name=matched[0].provider_name,
                postcode=matched[0].postcode,
            ),
            correlation_id,
        )
        reported = AccountRegisteredForReporting(kind=AccountKind.CQC)
        await ctx.service.emit(session, reported, correlation_id)
    _, held = await repository.authorise_and_list(
        session, account.id, [loc.location_id for loc in matched]
    )
    locations = [loc.as_event() for loc in held]
    await announce_locations(ctx.service, session, account, locations, correlation_id)
    return account, locations


async def announce_locations(
    service: Service,
    session: AsyncSession,
    account: Account,
    locations: list[Location],
    correlation_id: str,
) -> None:
    """Send LocationsAuthorised when the account's locations differ from the last one sent:
    a first sign-in, a location added or gone, or register details changed since (consumers
    upsert it). A repeat sign-in with nothing new sends nothing."""
    event = LocationsAuthorised(account_id=account.id, locations=locations)
    announced = hashlib.sha256(event.model_dump_json().encode()).digest()
    if announced == account.locations_announced:
        return
    await service.emit(session, event, correlation_id)
    await repository.mark_announced(session, account.id, announced)


async def _unchanged_account(
    session: AsyncSession, email: str, matched: list[RegisterLocation]
) -> tuple[Account, list[Location]] | None:
    """After the portal has closed a sign-in changes no account: it creates none, and adds no
    location; a holder may still sign in with a location already theirs to see their orders."""
    account = await repository.find_account(session, email)
    if account is None or account.password_hash:
        return None
    if not may_sign_in_with_register(account.kind, account.status):
        return None
    authorised = await repository.authorised_locations(session, account.id)
    if not {loc.location_id for loc in matched} <= {loc.location_id for loc in authorised}:
        return None
    return account, [loc.as_event() for loc in authorised]


async def _password_account(
    session: AsyncSession, account: Account, password: str
) -> tuple[Account, list[Location]] | None:
    stored = account.password_hash
    if stored is None or not account.active:
        return None
    if not await asyncio.to_thread(verify_password, stored, password):
        return None
    if needs_rehash(stored):
        stronger = await asyncio.to_thread(make_hash, password)
        await repository.replace_hash(session, account.id, stored, stronger)
    locations = [
        loc.as_event() for loc in await repository.authorised_locations(session, account.id)
    ]
    return account, locations


async def _authenticate(
    ctx: Identity,
    session: AsyncSession,
    email: str,
    password: str,
    correlation_id: str,
    closed: bool,
) -> tuple[Account, list[Location]] | None:
    account = await repository.find_account(session, email)
    if account is not None and account.password_hash is not None:
        return await _password_account(session, account, password)
    if account is not None and account.kind != AccountKind.CQC:
        return None  # a staff account whose holder has not chosen a password yet
    return await _cqc_account(ctx, session, email, password, correlation_id, closed)


async def issue(
    ctx: Identity,
    session: AsyncSession,
    account: Account,
    locations: list[Location],
    now: datetime,
    *,
    session_id: UUID | None = None,
) -> SignedIn:
    """Open (or, for a renewal, keep) a session and mint its tokens."""
    refresh, refresh_hash = new_secret()
    if session_id is None:
        session_id = await session_store.open_session(
            session, account.id, refresh_hash, now, ctx.sessions
        )
    else:
        await session_store.rotate_to(session, session_id, refresh_hash)
    issued = ctx.minter.mint(
        account_id=account.id,
        role=account.role,
        kind=account.kind,
        locations=[loc.location_id for loc in locations],
        session_id=session_id,
        # Staff are named beside their decisions (a reviewer, not an id); their work address
        # is the name staff accounts have. Providers' tokens carry no personal data.
        name=account.email if account.kind == AccountKind.STAFF else "",
    )
    return SignedIn(
        access_token=issued.token,
        expires_in=issued.expires_in,
        refresh_token=refresh,
        account_id=account.id,
        role=account.role,
        kind=account.kind,
        locations=locations,
    )


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["sign-in"])
    signed_in = require_role(service.verifier, *sorted(r.value for r in Role))

    @api.post(
        "/sign-in",
        response_model=SignedIn,
        responses={
            401: {"description": "The email address or password is not right."},
            429: {"description": "Too many attempts: wait for the time Retry-After gives."},
        },
    )
    async def sign_in(
        body: SignInIn,
        request: Request,
        response: Response,
        ctx: Identity = Depends(identity),
    ) -> SignedIn:
        """Sign in with an email address and password (or a location's register code)."""
        started = time.monotonic()
        email = fold_email(body.email)
        subject, source = ctx.subject_key(email), ctx.source_key(request)
        correlation_id: str = request.state.correlation_id
        now = ctx.clock()
        issued: SignedIn | None = None
        closed = False
        known = ctx.known_device(subject, body.device_tokens)
        device = known[1] if known else None
        async with service.db.transaction() as session:
            admission = await ctx.admit_sign_in(session, subject, source, now, device)
            if not admission.decision.allowed:
                await audit.record(
                    session, audit.Action.SIGN_IN_REFUSED, subject_key=subject, source_key=source
                )
            else:
                closed = await portal.closure(session) is not None
                found = await _authenticate(
                    ctx, session, email, body.password, correlation_id, closed
                )
                if found is None:
                    if device is None:  # a known device is held to its own lockout
                        await ctx.sign_in_failed(session, source, now)
                    await audit.record(
                        session,
                        audit.Action.SIGN_IN_FAILED,
                        subject_key=subject,
                        source_key=source,
                        failures=admission.counted.count,
                        known_device=device is not None,
                    )
                    if ctx.lockout.locks(admission.counted):
                        await audit.record(
                            session,
                            audit.Action.LOCKED_OUT,
                            subject_key=subject,
                            source_key=source,
                            until=str(admission.counted.locked_until),
                        )
                else:
                    account, locations = found
                    await ctx.sign_in_succeeded(session, subject, device)
                    issued = await issue(ctx, session, account, locations, now)
                    # The same token again for a known device (its counter stays its own).
                    issued.device_token = known[0] if known else ctx.device_token(subject)
                    await audit.record(
                        session,
                        audit.Action.SIGNED_IN,
                        account_id=account.id,
                        source_key=source,
                        method="password" if account.password_hash else "register",
                    )
        if not admission.decision.allowed:
            SIGN_IN_ATTEMPTS.labels(service.name, "refused").inc()
            await ctx.uniform_delay(started)
            raise too_many_attempts(admission.decision.retry_after)
        if issued is None:
            locked = ctx.lockout.locks(admission.counted)
            SIGN_IN_ATTEMPTS.labels(service.name, "locked" if locked else "failed").inc()
            await ctx.uniform_delay(started)
            raise service_closed() if closed else not_right()
        SIGN_IN_ATTEMPTS.labels(service.name, "succeeded").inc()
        response.headers["Cache-Control"] = "no-store"
        return issued

    @api.post(
        "/token",
        response_model=SignedIn,
        responses={401: {"description": "The session has ended: sign in again."}},
    )
    async def renew(
        body: RefreshIn,
        request: Request,
        response: Response,
        ctx: Identity = Depends(identity),
    ) -> SignedIn:
        """Swap a refresh token for a new access token and a new refresh token (rotation)."""
        now = ctx.clock()
        presented = digest(body.refresh_token)
        issued: SignedIn | None = None
        async with service.db.transaction() as session:
            live = await session_store.rotate(session, presented, now, ctx.sessions)
            if live is None:
                if await session_store.was_replayed(session, presented, now):
                    await audit.record(session, audit.Action.REFRESH_REUSED)
            else:
                account = await repository.account_by_id(session, live.account_id)
                if account is not None and account.active:
                    locations = [
                        loc.as_event()
                        for loc in await repository.authorised_locations(session, account.id)
                    ]
                    issued = await issue(ctx, session, account, locations, now, session_id=live.id)
        if issued is None:
            raise _session_expired()
        response.headers["Cache-Control"] = "no-store"
        return issued

    @api.post("/sign-out", status_code=204, responses={401: {"description": "Not signed in."}})
    async def sign_out(
        principal: Principal = Depends(signed_in),
        ctx: Identity = Depends(identity),
    ) -> Response:
        """End the session the access token was issued for; its refresh token stops working."""
        async with service.db.transaction() as session:
            if principal.session_id:
                await session_store.revoke_session(
                    session, UUID(principal.session_id), ctx.clock(), RevokedBecause.SIGNED_OUT
                )
            await audit.record(session, audit.Action.SIGNED_OUT, account_id=principal.account_id)
        return Response(status_code=204)

    return api
