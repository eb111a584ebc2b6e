"""Passwords: the rules a new one must pass, and the forgotten-password journey (an emailed
single-use link, then a new password).

The request is handled the same whether or not the email has an account (same outcome and
time); the link's secret is stored only hashed, works once, for 30 minutes, and asking again
cancels the earlier link. Choosing a password ends every session and every other link, and
from then on the account signs in with that password only: a CQC provider's register codes
stop opening it (anyone can look those up; a password only its holder knows).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from services.identity.domain import emails
from services.identity.domain.accounts import AccountStatus, Role
from services.identity.domain.passwords import hash_password, password_problems
from services.identity.domain.register import fold_email
from services.identity.domain.secrets import digest, new_secret
from services.identity.domain.sessions import RevokedBecause
from services.identity.metrics import PASSWORD_RESETS
from services.identity.store import audit, links, repository
from services.identity.store import register as register_store
from services.identity.store import sessions as session_store
from services.identity.usecases import throttling
from services.identity.usecases.context import Identity
from services.identity.usecases.refusals import LinkNotValid, password_not_allowed
from shared.events import AccountKind


def checked_password(password: str, *, email: str = "") -> None:
    """Refuse a password the rules do not allow (too short, common, or the email itself)."""
    problems = password_problems(password, email=email)
    if problems:
        raise password_not_allowed(problems)


def reset_link_not_valid() -> LinkNotValid:
    return LinkNotValid(
        "Reset links work once and for a short time. Ask for a new one on the 'Forgotten "
        "your password?' page."
    )


async def request_reset(ctx: Identity, email: str, client_host: str) -> None:
    """Email a reset link if the address has an account (or is on CQC's register)."""
    started = time.monotonic()
    now = ctx.clock()
    subject = ctx.subject_key(email)
    queued = False
    async with ctx.service.db.transaction() as session:
        account = await repository.find_account(session, email)
        known = (account is not None and account.status == AccountStatus.ACTIVE) or (
            account is None
            and bool(await register_store.active_locations_for_email(session, email))
        )
        if known and await throttling.admit_reset(ctx, session, subject, now):
            token, token_hash = new_secret()
            minutes = ctx.settings.reset_link_minutes
            await links.add_reset_token(
                session, token_hash, email=email, expires_at=now + timedelta(minutes=minutes)
            )
            await ctx.queue(
                session,
                emails.reset_password(
                    email,
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
            source_key=ctx.source_key(client_host),
            sent=queued,
        )
    if queued:
        ctx.email_queued()
    # Every request alike, sent or not: a label must not say whether an address has an
    # account (issue 17, item 6); the audit trail records which were sent.
    PASSWORD_RESETS.labels(ctx.service.name, "requested").inc()
    await ctx.uniform_delay(started)


async def check_reset_link(ctx: Identity, token: str) -> None:
    """Refuse, before the new password is typed, a link that no longer works."""
    async with ctx.service.db.transaction() as session:
        usable = await links.reset_token_is_usable(session, digest(token), ctx.clock())
    if not usable:
        raise reset_link_not_valid()


async def choose_password(ctx: Identity, token: str, password: str, client_host: str) -> None:
    """Set the new password; ends every session. Does not sign in (ASVS 2.5)."""
    now = ctx.clock()
    token_hash = digest(token)
    async with ctx.service.db.transaction() as session:
        if not await links.reset_token_is_usable(session, token_hash, now):
            raise reset_link_not_valid()
    # The link's email is only known after using it, so check the password's own rules
    # first and the email rule after: nothing is stored unless both pass.
    checked_password(password)
    new_hash = await asyncio.to_thread(hash_password, password)
    async with ctx.service.db.transaction() as session:
        email = await links.use_reset_token(session, token_hash, now)
        if email is None:
            raise reset_link_not_valid()
        checked_password(password, email=email)  # a refusal rolls back: the link still works
        account = await repository.find_account(session, email)
        if account is None:
            account = await repository.create_account(
                session, email, AccountKind.CQC, Role.PROVIDER, password_hash=new_hash, now=now
            )
            if account is None:
                raise reset_link_not_valid()
        elif not account.active:
            raise reset_link_not_valid()
        else:
            await repository.set_password(session, account.id, new_hash, now)
        revoked = await session_store.revoke_all(
            session, account.id, now, RevokedBecause.PASSWORD_RESET
        )
        # Whoever guessed at the old password, the owner now holds a new one (ADR 0064).
        await throttling.lift_lock(session, ctx.subject_key(fold_email(email)))
        await audit.record(
            session,
            audit.Action.PASSWORD_RESET,
            account_id=account.id,
            source_key=ctx.source_key(client_host),
            sessions_ended=revoked,
        )
        await ctx.queue(session, emails.password_changed(email, ctx.link("/contact")))
    ctx.email_queued()
    PASSWORD_RESETS.labels(ctx.service.name, "completed").inc()
