"""Accounts for providers not on CQC's register: non-CQC care providers, self-employed
personal assistants and local authorities create their own, proving their email address with
a single-use link. Also: the signed-in holder's own details, and customer services disabling
or anonymising an account on request.

Creating an account answers the same whether or not the email already has one; the owner of
an existing account is told by email instead. Until the link is used nothing can sign in:
the details wait in a pending registration that expires.

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

import asyncio
import time
from datetime import timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.identity.api.context import Identity, identity
from services.identity.api.passwords import Accepted, password_refused
from services.identity.api.portal import refuse_new_accounts
from services.identity.domain import emails
from services.identity.domain.accounts import AccountStatus, Role
from services.identity.domain.contact import checked_email, checked_phone, checked_postcode
from services.identity.domain.passwords import MAX_LENGTH, hash_password, password_problems
from services.identity.domain.secrets import digest, new_secret
from services.identity.domain.sessions import RevokedBecause
from services.identity.metrics import REGISTRATIONS
from services.identity.store import audit, erasure, links, repository, restrictions
from services.identity.store import sessions as session_store
from shared.events import (
    AccountAnonymised,
    AccountKind,
    AccountRegistered,
    AccountRegisteredForReporting,
    Location,
)
from shared.http.auth import Principal, require_role
from shared.http.problems import Problem
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


def _link_not_valid() -> Problem:
    return Problem(
        400,
        "link-not-valid",
        "This link has expired or has already been used",
        "Confirmation links work once and for 24 hours. Create your account again to get a "
        "new link.",
    )


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
        started = time.monotonic()
        problems = password_problems(body.password, email=body.email)
        if problems:
            raise password_refused(problems)
        password_hash = await asyncio.to_thread(hash_password, body.password)
        now = ctx.clock()
        async with service.db.transaction() as session:
            await refuse_new_accounts(session)
            subject = ctx.subject_key(body.email)
            # Counted first, under the counter's row lock: parallel requests queue here, so no
            # more than the limit are emailed whatever arrives at once.
            admitted = await ctx.admit_registration_email(session, subject, now)
            existing = await repository.find_account(session, body.email)
            if not admitted:
                message = None
            elif existing is None:
                token, token_hash = new_secret()
                hours = ctx.settings.registration_link_hours
                await links.add_registration(
                    session,
                    token_hash,
                    email=body.email,
                    kind=body.organisation_type,
                    profile=body.profile(),
                    password_hash=password_hash,
                    expires_at=now + timedelta(hours=hours),
                )
                message = emails.confirm_email(
                    body.email, ctx.link("/create-account/confirm", token=token), hours
                )
            else:
                message = emails.already_registered(
                    body.email, ctx.link("/sign-in"), ctx.link("/forgotten-password")
                )
            if message is not None:
                await ctx.queue(session, message)
            await audit.record(
                session,
                audit.Action.REGISTRATION_STARTED,
                account_id=existing.id if existing else None,
                subject_key=subject,
                source_key=ctx.source_key(request),
                sent=message is not None,
            )
        if message is not None:
            ctx.email_queued()
        REGISTRATIONS.labels(service.name, "started").inc()
        await ctx.uniform_delay(started)
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
        now = ctx.clock()
        correlation_id: str = request.state.correlation_id
        async with service.db.transaction() as session:
            await refuse_new_accounts(session)
            pending = await links.take_registration(session, digest(body.token), now)
            if pending is None:
                raise _link_not_valid()
            account = await repository.create_account(
                session,
                pending.email,
                pending.kind,
                Role.PROVIDER,
                password_hash=pending.password_hash,
                now=now,
            )
            if account is None:
                raise Problem(
                    409,
                    "already-registered",
                    "There is already an account for this email address",
                    "Sign in with your email address and password, or reset your password.",
                )
            await repository.save_profile(session, account.id, pending.profile)
            await service.emit(
                session,
                AccountRegistered(
                    account_id=account.id,
                    kind=AccountKind(pending.kind),
                    email=pending.email,
                    **pending.profile,
                ),
                correlation_id,
            )
            reported = AccountRegisteredForReporting(kind=AccountKind(pending.kind))
            await service.emit(session, reported, correlation_id)
            await audit.record(session, audit.Action.ACCOUNT_CREATED, account_id=account.id)
        REGISTRATIONS.labels(service.name, "confirmed").inc()
        return Created(
            account_id=account.id,
            message="Your account has been created. Sign in with your email address and password.",
        )

    @api.get("/account", response_model=AccountOut)
    async def me(
        principal: Principal = Depends(anyone_signed_in),
    ) -> AccountOut:
        """The signed-in account's own details and the locations it may order for."""
        async with service.db.transaction() as session:
            account = await repository.account_by_id(session, principal.account_id)
            if account is None or not account.active:
                raise Problem(401, "session-ended", "You have been signed out", "Sign in again.")
            profile = await repository.load_profile(session, account.id)
            locations = await repository.authorised_locations(session, account.id)
            restricted = await restrictions.restriction_of(session, account.id)
        return AccountOut(
            account_id=account.id,
            email=account.email,
            kind=account.kind,
            role=account.role,
            has_password=account.password_hash is not None,
            organisation=Organisation(**profile) if profile else None,
            locations=[loc.as_event() for loc in locations],
            restriction=_restriction_message(restricted),
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
        now = ctx.clock()
        async with service.db.transaction() as session:
            if not await repository.set_status(session, account_id, AccountStatus.DISABLED):
                raise _no_such_account()
            ended = await session_store.revoke_all(
                session, account_id, now, RevokedBecause.DISABLED
            )
            await audit.record(
                session,
                audit.Action.ACCOUNT_DISABLED,
                account_id=account_id,
                by=str(staff.account_id),
                reason=body.reason,
                sessions_ended=ended,
            )
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
        now = ctx.clock()
        async with service.db.transaction() as session:
            erased = await erasure.erase_account(
                session, account_id, outbox=service.outbox_table, email_outbox=ctx.email_outbox
            )
            if not erased:
                raise _no_such_account()
            await session_store.revoke_all(session, account_id, now, RevokedBecause.ANONYMISED)
            await service.emit(
                session, AccountAnonymised(account_id=account_id), request.state.correlation_id
            )
            await audit.record(
                session,
                audit.Action.ACCOUNT_ANONYMISED,
                account_id=account_id,
                by=str(staff.account_id),
                reason=body.reason,
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


def _no_such_account() -> Problem:
    return Problem(404, "no-such-account", "Account not found", "Check the account ID.")
