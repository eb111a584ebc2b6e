"""Adding a location from inside the account over HTTP (the rules are in
``services.identity.usecases.locations``): the answer is fresh tokens whose ``loc`` names
the new location.

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.identity.api.requests import client_host, correlation_id, identity
from services.identity.api.sign_in import SignedIn, signed_in_as
from services.identity.domain.accounts import Role
from services.identity.usecases import locations
from services.identity.usecases.context import Identity
from shared.http.auth import Principal, require_role
from shared.runtime import Service


class LocationCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)] = (
        Field(
            description="The location's ODS code (its postcode for hospices, substance misuse "
            "and mental health community & hospital locations)."
        )
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
        issued = await locations.add_location(
            ctx,
            principal.account_id,
            principal.session_id,
            body.code,
            client_host(request),
            correlation_id(request),
        )
        return signed_in_as(issued, response)

    return api
