"""Signing in. CQC-registered providers use the email CQC holds for a location and its ODS code
(or, for the categories FAQ 4 names, its postcode); an email covering several locations signs
in once with each location's code and can then order for all of them.

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

import functools
from datetime import timedelta
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.identity.domain.accounts import Role, may_sign_in_with_register
from services.identity.domain.credentials import password_matches
from services.identity.domain.register import fold_email
from services.identity.domain.tokens import TokenMinter
from services.identity.settings import IdentitySettings
from services.identity.store import register as register_store
from services.identity.store import repository
from shared.events import AccountKind, AccountRegistered, Location, LocationsAuthorised
from shared.http.problems import Problem
from shared.runtime import Service


class SignInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, StringConstraints(min_length=1, max_length=320)] = Field(
        description="The email address CQC holds for the location."
    )
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="The location's ODS code (its postcode for hospices, substance misuse and "
        "mental health community & hospital locations)."
    )


class SignedIn(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int = Field(description="Seconds until the token expires.")
    account_id: UUID
    locations: list[Location] = Field(
        description="Every location this account may order for, as CQC describes it."
    )


def _not_right() -> Problem:
    """One answer for an unknown email and a wrong code, so neither reveals which it was."""
    return Problem(
        401,
        "sign-in-failed",
        "Sign-in details not recognised",
        "The email address or password is not right. Check them and try again: use the email "
        "address CQC holds for your location and its ODS code (or its postcode if your "
        "location is a hospice, substance misuse or mental health community & hospital "
        "service).",
    )


def router(service: Service, settings: IdentitySettings) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["sign-in"])

    @functools.cache
    def minter() -> TokenMinter:
        if not settings.token_private_key:
            raise RuntimeError("CARE_IDENTITY_TOKEN_PRIVATE_KEY is not set")
        return TokenMinter(
            settings.token_private_key,
            settings.token_issuer,
            timedelta(seconds=settings.token_ttl_seconds),
        )

    @api.post(
        "/sign-in",
        response_model=SignedIn,
        responses={401: {"description": "The email address or password is not right."}},
    )
    async def sign_in(body: SignInIn, request: Request, response: Response) -> SignedIn:
        """Sign in with a location's register details; returns a bearer token."""
        tokens = minter()
        email = fold_email(body.email)
        correlation_id: str = request.state.correlation_id
        async with service.db.transaction() as session:
            candidates = await register_store.active_locations_for_email(session, email)
            matched = [loc for loc in candidates if password_matches(loc, body.password)]
            if not matched:
                raise _not_right()
            account = await repository.get_or_create_account(
                session, email, AccountKind.CQC, Role.PROVIDER
            )
            if not may_sign_in_with_register(account.kind, account.status):
                raise _not_right()
            if account.created:
                await service.emit(
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
            await repository.authorise_locations(
                session, account.id, [loc.location_id for loc in matched]
            )
            locations = [
                loc.as_event() for loc in await repository.authorised_locations(session, account.id)
            ]
            # Sent on every sign-in, not only when a location is new: consumers upsert it, and
            # it carries the latest register details of locations authorised earlier.
            await service.emit(
                session,
                LocationsAuthorised(account_id=account.id, locations=locations),
                correlation_id,
            )
        issued = tokens.mint(
            account_id=account.id,
            role=account.role,
            kind=account.kind,
            locations=[loc.location_id for loc in locations],
        )
        response.headers["Cache-Control"] = "no-store"
        return SignedIn(
            access_token=issued.token,
            expires_in=issued.expires_in,
            account_id=account.id,
            locations=locations,
        )

    return api
