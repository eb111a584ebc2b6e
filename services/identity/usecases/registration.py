"""Accounts for providers not on CQC's register: non-CQC care providers, self-employed
personal assistants and local authorities create their own, proving their email address with
a single-use link.

Starting an account is handled the same whether or not the email already has one; the owner
of an existing account is told by email instead. Until the link is used nothing can sign in:
the details wait in a pending registration that expires.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from uuid import UUID

from services.identity.domain import emails
from services.identity.domain.accounts import Role
from services.identity.domain.passwords import hash_password
from services.identity.domain.secrets import digest, new_secret
from services.identity.metrics import REGISTRATIONS
from services.identity.store import audit, links, repository
from services.identity.usecases import throttling
from services.identity.usecases.context import Identity
from services.identity.usecases.passwords import checked_password
from services.identity.usecases.portal import refuse_new_accounts
from services.identity.usecases.refusals import LinkNotValid
from shared.events import AccountKind, AccountRegistered, AccountRegisteredForReporting
from shared.usecases import Conflict


async def start(
    ctx: Identity,
    *,
    email: str,
    kind: str,
    profile: dict[str, str],
    password: str,
    client_host: str,
) -> None:
    """Email a confirmation link (or, if the address already has an account, tell its
    owner); the caller's answer is the same either way."""
    started = time.monotonic()
    checked_password(password, email=email)
    password_hash = await asyncio.to_thread(hash_password, password)
    now = ctx.clock()
    async with ctx.service.db.transaction() as session:
        await refuse_new_accounts(session)
        subject = ctx.subject_key(email)
        # Counted first, under the counter's row lock: parallel requests queue here, so no
        # more than the limit are emailed whatever arrives at once.
        admitted = await throttling.admit_registration_email(ctx, session, subject, now)
        existing = await repository.find_account(session, email)
        if not admitted:
            message = None
        elif existing is None:
            token, token_hash = new_secret()
            hours = ctx.settings.registration_link_hours
            await links.add_registration(
                session,
                token_hash,
                email=email,
                kind=kind,
                profile=profile,
                password_hash=password_hash,
                expires_at=now + timedelta(hours=hours),
            )
            message = emails.confirm_email(
                email, ctx.link("/create-account/confirm", token=token), hours
            )
        else:
            message = emails.already_registered(
                email, ctx.link("/sign-in"), ctx.link("/forgotten-password")
            )
        if message is not None:
            await ctx.queue(session, message)
        await audit.record(
            session,
            audit.Action.REGISTRATION_STARTED,
            account_id=existing.id if existing else None,
            subject_key=subject,
            source_key=ctx.source_key(client_host),
            sent=message is not None,
        )
    if message is not None:
        ctx.email_queued()
    REGISTRATIONS.labels(ctx.service.name, "started").inc()
    await ctx.uniform_delay(started)


async def confirm(ctx: Identity, token: str, correlation_id: str) -> UUID:
    """Create the account the link confirms; its holder signs in afterwards."""
    now = ctx.clock()
    service = ctx.service
    async with service.db.transaction() as session:
        await refuse_new_accounts(session)
        pending = await links.take_registration(session, digest(token), now)
        if pending is None:
            raise LinkNotValid(
                "Confirmation links work once and for 24 hours. Create your account again to "
                "get a new link."
            )
        account = await repository.create_account(
            session,
            pending.email,
            pending.kind,
            Role.PROVIDER,
            password_hash=pending.password_hash,
            now=now,
        )
        if account is None:
            raise Conflict(
                "already-registered",
                "Sign in with your email address and password, or reset your password.",
                title="There is already an account for this email address",
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
    return account.id
