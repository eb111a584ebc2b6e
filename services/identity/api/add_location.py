"""Adding a location from inside the account (issue 16, item 12): a provider whose email
covers many locations signs in once and then enters each other location's ODS code (its
postcode for the four categories FAQ 4 names), instead of signing in once per location.

The same checks, limits and audit as sign-in: the code must be one of the register's codes
for a location under the account's own email; every attempt passes the brute-force guard for
that email and the caller's address, in the same transaction as its outcome; nothing changes
once the portal has closed. The answer is a fresh token whose ``loc`` names the new location,
so an order for it can be placed at once (ADR 0061).

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

import time
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.identity.api.context import Identity, identity, too_many_attempts
from services.identity.api.sign_in import SignedIn, announce_locations, issue, service_closed
from services.identity.domain.accounts import Role
from services.identity.domain.credentials import password_matches
from services.identity.store import audit, portal, repository
from services.identity.store import register as register_store
from shared.events import AccountKind
from shared.http.auth import Principal, require_role
from shared.http.problems import Problem
from shared.runtime import Service


class LocationCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)] = (
        Field(
            description="The location's ODS code (its postcode for hospices, substance misuse "
            "and mental health community & hospital locations)."
        )
    )


def code_not_recognised() -> Problem:
    return Problem(
        422,
        "location-code-not-recognised",
        "That code does not match a location under your email address",
        "Enter the ODS code of a location whose email address on the CQC register is the one "
        "you signed in with (or its postcode, for a hospice, substance misuse or mental health "
        "community & hospital location).",
        errors=[{"field": "code", "message": "is not the code of a location under your email"}],
    )


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["sign-in"])
    provider = require_role(service.verifier, Role.PROVIDER)

    @api.post(
        "/account/locations",
        response_model=SignedIn,
        responses={
            403: {"description": "The service has closed, or the account is not a CQC one."},
            422: {"description": "The code matches no location under the account's email."},
            429: {"description": "Too many attempts: wait for the time Retry-After gives."},
        },
    )
    async def add_location(
        body: LocationCodeIn,
        request: Request,
        response: Response,
        principal: Principal = Depends(provider),
        ctx: Identity = Depends(identity),
    ) -> SignedIn:
        """Add another of your locations by its code; answers fresh tokens that include it."""
        started = time.monotonic()
        now = ctx.clock()
        source = ctx.source_key(request)
        issued: SignedIn | None = None
        closed = False
        async with service.db.transaction() as session:
            account = await repository.account_by_id(session, principal.account_id)
            if account is None or not account.active or account.kind != AccountKind.CQC:
                raise Problem(
                    403,
                    "not-a-cqc-account",
                    "Only a CQC-registered provider adds locations",
                    "Your account orders to the address it registered.",
                )
            subject = ctx.subject_key(account.email)
            admission = await ctx.admit_sign_in(session, subject, source, now)
            if not admission.decision.allowed:
                await audit.record(
                    session, audit.Action.SIGN_IN_REFUSED, subject_key=subject, source_key=source
                )
            elif await portal.closure(session) is not None:
                closed = True
            else:
                candidates = await register_store.active_locations_for_email(session, account.email)
                matched = [
                    loc.location_id for loc in candidates if password_matches(loc, body.code)
                ]
                if not matched:
                    await ctx.sign_in_failed(session, source, now)
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
                    await announce_locations(
                        service, session, account, locations, request.state.correlation_id
                    )
                    await ctx.sign_in_succeeded(session, subject)
                    await audit.record(
                        session,
                        audit.Action.LOCATION_ADDED,
                        account_id=account.id,
                        source_key=source,
                        locations=sorted(added),
                    )
                    live = UUID(principal.session_id) if principal.session_id else None
                    issued = await issue(ctx, session, account, locations, now, session_id=live)
        if not admission.decision.allowed:
            await ctx.uniform_delay(started)
            raise too_many_attempts(admission.decision.retry_after)
        if closed:
            raise service_closed()
        if issued is None:
            await ctx.uniform_delay(started)
            raise code_not_recognised()
        response.headers["Cache-Control"] = "no-store"
        return issued

    return api
