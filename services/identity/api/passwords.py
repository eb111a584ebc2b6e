"""Forgotten password over HTTP: ask for an emailed single-use link, check it, choose a new
password (the rules are in ``services.identity.usecases.passwords``).

Asking answers 202 with the same words whether or not the email has an account; a link that
has expired or was used is 400; a password the rules refuse is 422, naming every rule it
breaks.

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.identity.api.requests import client_host, identity
from services.identity.domain.contact import checked_email
from services.identity.domain.passwords import MAX_LENGTH
from services.identity.usecases import passwords
from services.identity.usecases.context import Identity
from shared.runtime import Service

Token = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ResetRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, StringConstraints(max_length=320)]

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return checked_email(value)


class ResetLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Token


class NewPasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Token
    password: str = Field(max_length=MAX_LENGTH * 8, description="The new password.")


class Accepted(BaseModel):
    message: str


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api/password-reset", tags=["password reset"])

    @api.post("", status_code=202, response_model=Accepted)
    async def request_reset(
        body: ResetRequestIn,
        request: Request,
        ctx: Identity = Depends(identity),
    ) -> Accepted:
        """Email a reset link if the address has an account (or is on CQC's register)."""
        await passwords.request_reset(ctx, body.email, client_host(request))
        return Accepted(
            message="If there is an account for that email address, we have sent it a link to "
            f"reset the password. The link works for {ctx.settings.reset_link_minutes} minutes. "
            "Check your spam folder if it has not arrived in a few minutes."
        )

    @api.post("/check", status_code=204, responses={400: {"description": "Link not valid."}})
    async def check_link(
        body: ResetLinkIn,
        ctx: Identity = Depends(identity),
    ) -> Response:
        """Say before the new password is typed whether the link still works."""
        await passwords.check_reset_link(ctx, body.token)
        return Response(status_code=204)

    @api.post(
        "/confirm",
        status_code=204,
        responses={
            400: {"description": "The link has expired or was used."},
            422: {"description": "The new password is not allowed; the problem says why."},
        },
    )
    async def choose_password(
        body: NewPasswordIn,
        request: Request,
        ctx: Identity = Depends(identity),
    ) -> Response:
        """Set the new password; ends every session. Does not sign in (ASVS 2.5)."""
        await passwords.choose_password(ctx, body.token, body.password, client_host(request))
        return Response(status_code=204)

    return api
