"""Accounts over HTTP: self-registration and its emailed link, the signed-in holder's own
details, and customer services disabling or anonymising an account (the rules are in
``services.identity.usecases.registration`` and ``.accounts``).

Starting an account answers 202 with the same words whether or not the email already has
one; a confirmation link that has expired or was used is 400.

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.identity.api.passwords import Accepted
from services.identity.api.requests import client_host, correlation_id, identity
from services.identity.domain.accounts import Role
from services.identity.domain.contact import checked_email, checked_phone, checked_postcode
from services.identity.domain.passwords import MAX_LENGTH
from services.identity.usecases import accounts, registration
from services.identity.usecases.context import Identity
from shared.events import Location
from shared.http.auth import Principal, require_role
from shared.runtime import Service

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
SelfRegistered = Literal["non_cqc", "personal_assistant", "local_authority"]


class RegistrationIn(BaseModel):
    """Who is registering and where their badges go (the privacy policy's list)."""

    model_config = ConfigDict(extra="forbid")

    organisation_type: SelfRegistered = Field(
        description="non_cqc: a care provider not registered with CQC; personal_assistant: "
        "a self-employed personal assistant; local_authority: a council."
    )
    organisation_name: Text
    contact_name: Text
    address_line_1: Text
    address_line_2: OptionalText = ""
    city: Text = Field(description="Town or city.")
    postcode: Annotated[str, StringConstraints(max_length=16)]
    phone: Annotated[str, StringConstraints(max_length=32)]
    email: Annotated[str, StringConstraints(max_length=320)]
    password: str = Field(max_length=MAX_LENGTH * 8)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return checked_email(value)

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str) -> str:
        return checked_postcode(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return checked_phone(value)

    def profile(self) -> dict[str, str]:
        return self.model_dump(
            include={
                "organisation_name",
                "contact_name",
                "address_line_1",
                "address_line_2",
                "city",
                "postcode",
                "phone",
            }
        )


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Created(BaseModel):
    account_id: UUID
    message: str


class Organisation(BaseModel):
    organisation_name: str
    contact_name: str
    address_line_1: str
    address_line_2: str
    city: str
    postcode: str
    phone: str


class AccountOut(BaseModel):
    account_id: UUID
    email: str
    kind: str
    role: str
    has_password: bool = Field(
        description="True once the holder chose a password (register codes no longer work)."
    )
    organisation: Organisation | None = Field(
        None, description="What a self-registered account gave; CQC accounts have locations."
    )
    locations: list[Location]
    restriction: str | None = Field(
        None,
        description="Set while the holder has restricted (or objected to) the use of their "
        "data: it is kept, but no order can be placed and nothing is sent until it is lifted.",
    )


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(description="Why, for the audit trail (for example 'asked by phone').")


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["accounts"])
    anyone_signed_in = require_role(service.verifier, *sorted(r.value for r in Role))
    customer_services = require_role(service.verifier, Role.CUSTOMER_SERVICE)

    @api.post("/accounts", status_code=202, response_model=Accepted)
    async def register(
        body: RegistrationIn,
        request: Request,
        ctx: Identity = Depends(identity),
    ) -> Accepted:
        """Start an account: emails a confirmation link (or, if the address already has an
        account, tells its owner). The answer is the same either way."""
        await registration.start(
            ctx,
            email=body.email,
            kind=body.organisation_type,
            profile=body.profile(),
            password=body.password,
            client_host=client_host(request),
        )
        return Accepted(
            message=f"We have sent an email to {body.email}. Open the link in it to finish "
            "creating your account."
        )

    @api.post(
        "/accounts/confirm",
        status_code=201,
        response_model=Created,
        responses={400: {"description": "The link has expired or was used."}},
    )
    async def confirm(
        body: ConfirmIn,
        request: Request,
        ctx: Identity = Depends(identity),
    ) -> Created:
        """Create the account the link confirms. Sign in afterwards with the password."""
        account_id = await registration.confirm(ctx, body.token, correlation_id(request))
        return Created(
            account_id=account_id,
            message="Your account has been created. Sign in with your email address and password.",
        )

    @api.get("/account", response_model=AccountOut)
    async def me(
        principal: Principal = Depends(anyone_signed_in),
    ) -> AccountOut:
        """The signed-in account's own details and the locations it may order for."""
        held = await accounts.held(service, principal.account_id)
        account = held.account
        return AccountOut(
            account_id=account.id,
            email=account.email,
            kind=account.kind,
            role=account.role,
            has_password=account.password_hash is not None,
            organisation=Organisation(**held.profile) if held.profile else None,
            locations=held.locations,
            restriction=_restriction_message(held.restriction),
        )

    @api.post("/accounts/{account_id}/disable", status_code=204)
    async def disable(
        account_id: UUID,
        body: ReasonIn,
        staff: Principal = Depends(customer_services),
        ctx: Identity = Depends(identity),
    ) -> Response:
        """Stop an account signing in and end its sessions (for example at the holder's
        request, or while a concern is looked into)."""
        await accounts.disable(ctx, account_id, staff.account_id, body.reason)
        return Response(status_code=204)

    @api.post("/accounts/{account_id}/anonymise", status_code=204)
    async def anonymise(
        account_id: UUID,
        body: ReasonIn,
        request: Request,
        staff: Principal = Depends(customer_services),
        ctx: Identity = Depends(identity),
    ) -> Response:
        """Disable the account, remove who held it, and tell every service to do the same."""
        await accounts.anonymise(
            ctx, account_id, staff.account_id, body.reason, correlation_id(request)
        )
        return Response(status_code=204)

    return api


def _restriction_message(restricted: dict[str, Any] | None) -> str | None:
    if restricted is None:
        return None
    what = "objected to" if restricted["ground"] == "objection" else "restricted"
    return (
        f"You {what} the use of your data on {restricted['restricted_at']:%d %B %Y}. We keep "
        "it but do not use it: you cannot place an order and nothing will be sent to you "
        "until you lift this."
    )
