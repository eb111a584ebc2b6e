"""Forgotten password: an emailed single-use link, then a new password.

The request answers the same whether or not the email has an account (same status, body and
time); the link's secret is stored only hashed, works once, for 30 minutes, and asking again
cancels the earlier link. Choosing a password ends every session and every other link, and
from then on the account signs in with that password only: a CQC provider's register codes
stop opening it (anyone can look those up; a password only its holder knows).

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

import asyncio
import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.identity.api.context import Identity, identity
from services.identity.domain import emails
from services.identity.domain.accounts import AccountStatus, Role
from services.identity.domain.contact import checked_email
from services.identity.domain.passwords import MAX_LENGTH, hash_password, password_problems
from services.identity.domain.register import fold_email
from services.identity.domain.secrets import digest, new_secret
from services.identity.domain.sessions import RevokedBecause
from services.identity.metrics import PASSWORD_RESETS
from services.identity.store import audit, links, repository
from services.identity.store import register as register_store
from services.identity.store import sessions as session_store
from shared.events import AccountKind
from shared.http.problems import Problem
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


def link_not_valid() -> Problem:
    return Problem(
        400,
        "link-not-valid",
        "This link has expired or has already been used",
        "Reset links work once and for a short time. Ask for a new one on the 'Forgotten "
        "your password?' page.",
    )


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api/password-reset", tags=["password reset"])

    @api.post("", status_code=202, response_model=Accepted)
    async def request_reset(
        body: ResetRequestIn,
        request: Request,
        ctx: Identity = Depends(identity),
    ) -> Accepted:
        """Email a reset link if the address has an account (or is on CQC's register)."""
        started = time.monotonic()
        now = ctx.clock()
        subject = ctx.subject_key(body.email)
        queued = False
        async with service.db.transaction() as session:
            account = await repository.find_account(session, body.email)
            known = (account is not None and account.status == AccountStatus.ACTIVE) or (
                account is None
                and bool(await register_store.active_locations_for_email(session, body.email))
            )
            if known and await ctx.admit_reset(session, subject, now):
                token, token_hash = new_secret()
                minutes = ctx.settings.reset_link_minutes
                await links.add_reset_token(
                    session,
                    token_hash,
                    email=body.email,
                    expires_at=now + timedelta(minutes=minutes),
                )
                await ctx.queue(
                    session,
                    emails.reset_password(
                        body.email,
                        ctx.link(
                            "/reset-password",
                            role=account.role if account is not None else "",
                            token=token,
                        ),
                        minutes,
                    ),
                )
                queued = True
            await audit.record(
                session,
                audit.Action.RESET_REQUESTED,
                account_id=account.id if account else None,
                subject_key=subject,
                source_key=ctx.source_key(request),
                sent=queued,
            )
        if queued:
            ctx.email_queued()
        # Every request alike, sent or not: a label must not say whether an address has an
        # account (issue 17, item 6); the audit trail records which were sent.
        PASSWORD_RESETS.labels(service.name, "requested").inc()
        await ctx.uniform_delay(started)
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
        async with service.db.transaction() as session:
            usable = await links.reset_token_is_usable(session, digest(body.token), ctx.clock())
        if not usable:
            raise link_not_valid()
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
        now = ctx.clock()
        token_hash = digest(body.token)
        async with service.db.transaction() as session:
            if not await links.reset_token_is_usable(session, token_hash, now):
                raise link_not_valid()
        # The link's email is only known after using it, so check the password's own rules
        # first and the email rule after: nothing is stored unless both pass.
        problems = password_problems(body.password)
        if problems:
            raise password_refused(problems)
        new_hash = await asyncio.to_thread(hash_password, body.password)
        async with service.db.transaction() as session:
            email = await links.use_reset_token(session, token_hash, now)
            if email is None:
                raise link_not_valid()
            problems = password_problems(body.password, email=email)
            if problems:
                raise password_refused(problems)  # rolls back: the link still works
            account = await repository.find_account(session, email)
            if account is None:
                account = await repository.create_account(
                    session, email, AccountKind.CQC, Role.PROVIDER, password_hash=new_hash, now=now
                )
                if account is None:
                    raise link_not_valid()
            elif not account.active:
                raise link_not_valid()
            else:
                await repository.set_password(session, account.id, new_hash, now)
            revoked = await session_store.revoke_all(
                session, account.id, now, RevokedBecause.PASSWORD_RESET
            )
            # Whoever guessed at the old password, the owner now holds a new one (ADR 0064).
            await ctx.lift_lock(session, ctx.subject_key(fold_email(email)))
            await audit.record(
                session,
                audit.Action.PASSWORD_RESET,
                account_id=account.id,
                source_key=ctx.source_key(request),
                sessions_ended=revoked,
            )
            await ctx.queue(session, emails.password_changed(email, ctx.link("/contact")))
        ctx.email_queued()
        PASSWORD_RESETS.labels(service.name, "completed").inc()
        return Response(status_code=204)

    return api


def password_refused(problems: list[str]) -> Problem:
    return Problem(
        422,
        "password-not-allowed",
        "Choose a different password",
        problems[0],
        errors=[{"field": "password", "message": message} for message in problems],
    )
