"""Signing in, renewing and signing out over HTTP (the rules are in
``services.identity.usecases.sign_in`` and ``.sessions``).

A refused sign-in answers 401 whether the email is unknown or the code wrong (same body, same
time), 429 with Retry-After while the brute-force guard holds, and 403 once the portal has
closed; every success answers ``Cache-Control: no-store``.

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.identity.api.requests import client_host, correlation_id, identity
from services.identity.domain.accounts import Role
from services.identity.domain.devices import MAX_TOKEN_LENGTH as MAX_DEVICE_TOKEN_LENGTH
from services.identity.domain.devices import MAX_TOKENS as MAX_DEVICE_TOKENS
from services.identity.domain.passwords import MAX_LENGTH
from services.identity.usecases import sessions
from services.identity.usecases import sign_in as signing_in
from services.identity.usecases.context import Identity
from services.identity.usecases.sessions import Issued
from shared.events import Location
from shared.http.auth import Principal, require_role
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


def signed_in_as(issued: Issued, response: Response) -> SignedIn:
    """The answer to a sign-in, renewal or added location: tokens nobody may cache."""
    response.headers["Cache-Control"] = "no-store"
    return SignedIn.model_validate(issued, from_attributes=True)


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["sign-in"])
    anyone_signed_in = require_role(service.verifier, *sorted(r.value for r in Role))

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
        issued = await signing_in.sign_in(
            ctx,
            body.email,
            body.password,
            body.device_tokens,
            client_host(request),
            correlation_id(request),
        )
        return signed_in_as(issued, response)

    @api.post(
        "/token",
        response_model=SignedIn,
        responses={401: {"description": "The session has ended: sign in again."}},
    )
    async def renew(
        body: RefreshIn,
        response: Response,
        ctx: Identity = Depends(identity),
    ) -> SignedIn:
        """Swap a refresh token for a new access token and a new refresh token (rotation)."""
        return signed_in_as(await sessions.renew(ctx, body.refresh_token), response)

    @api.post("/sign-out", status_code=204, responses={401: {"description": "Not signed in."}})
    async def sign_out(
        principal: Principal = Depends(anyone_signed_in),
        ctx: Identity = Depends(identity),
    ) -> Response:
        """End the session the access token was issued for; its refresh token stops working."""
        await sessions.sign_out(ctx, principal.account_id, principal.session_id)
        return Response(status_code=204)

    return api
