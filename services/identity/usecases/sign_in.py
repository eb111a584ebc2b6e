"""Signing in.

One form for everyone: an email address and a password. A CQC-registered provider's
"password" is the location's ODS code (its postcode for the categories FAQ 4 names) until
they choose a password of their own; an email covering several locations signs in once with
each location's code and can then order for all of them. Self-registered and staff accounts
use the password they chose.

Every attempt passes the brute-force guard first, in the same transaction as its outcome, and
an unknown email is treated exactly like a known one: same refusal, same time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain.accounts import may_sign_in_with_register
from services.identity.domain.credentials import password_matches
from services.identity.domain.passwords import hash_password, needs_rehash, verify_password
from services.identity.domain.register import RegisterLocation, fold_email
from services.identity.metrics import SIGN_IN_ATTEMPTS
from services.identity.store import audit, repository
from services.identity.store import sign_in as sign_in_store
from services.identity.store.repository import Account
from services.identity.store.sessions import SignedIn
from services.identity.store.sign_in import SignInView
from services.identity.usecases import throttling
from services.identity.usecases.context import Identity
from services.identity.usecases.locations import announce_locations, digest
from services.identity.usecases.refusals import TooManyAttempts, not_recognised, service_closed
from services.identity.usecases.sessions import Issued, issue
from shared.events import AccountKind, AccountRegistered, AccountRegisteredForReporting, Location

#: Who signed in and what they may order for; None when the details were not right.
Found = tuple[Account, list[Location]] | None


@dataclass(frozen=True)
class _Attempt:
    email: str
    password: str
    correlation_id: str
    #: The portal, the account and the register's locations for the email, as read.
    view: SignInView


async def sign_in(
    ctx: Identity,
    email: str,
    password: str,
    device_tokens: list[str],
    client_host: str,
    correlation_id: str,
) -> Issued:
    """Sign in with an email address and password (or a location's register code); the
    answer carries a device token for the browser to present next time (ADR 0064)."""
    started = time.monotonic()
    email = fold_email(email)
    subject, source = ctx.subject_key(email), ctx.source_key(client_host)
    now = ctx.clock()
    issued: Issued | None = None
    closed = False
    known = ctx.known_device(subject, device_tokens)
    device = known[1] if known else None
    async with ctx.service.db.transaction() as session:
        admission = await throttling.admit_sign_in(ctx, session, subject, source, now, device)
        if not admission.decision.allowed:
            await audit.record(
                session, audit.Action.SIGN_IN_REFUSED, subject_key=subject, source_key=source
            )
        else:
            view = await sign_in_store.read(session, email)
            closed = view.closed
            found = await _authenticate(
                ctx, session, _Attempt(email, password, correlation_id, view)
            )
            if found is None:
                if device is None:  # a known device is held to its own lockout
                    await throttling.sign_in_failed(ctx, session, source, now)
                await audit.record(
                    session,
                    audit.Action.SIGN_IN_FAILED,
                    subject_key=subject,
                    source_key=source,
                    failures=admission.counted.count,
                    known_device=device is not None,
                )
                if ctx.lockout.locks(admission.counted):
                    await audit.record(
                        session,
                        audit.Action.LOCKED_OUT,
                        subject_key=subject,
                        source_key=source,
                        until=str(admission.counted.locked_until),
                    )
            else:
                account, locations = found
                signed_in = SignedIn(
                    source_key=source,
                    method="password" if account.password_hash else "register",
                    counter=throttling.cleared_with_sign_in(admission),
                )
                issued = await issue(ctx, session, account, locations, now, signed_in=signed_in)
                # The same token again for a known device (its counter stays its own).
                issued.device_token = known[0] if known else ctx.device_token(subject)
    # Refused after the commit: the attempt stays counted and audited.
    name = ctx.service.name
    if not admission.decision.allowed:
        SIGN_IN_ATTEMPTS.labels(name, "refused").inc()
        await ctx.uniform_delay(started)
        raise TooManyAttempts(admission.decision.retry_after)
    if issued is None:
        locked = ctx.lockout.locks(admission.counted)
        SIGN_IN_ATTEMPTS.labels(name, "locked" if locked else "failed").inc()
        await ctx.uniform_delay(started)
        raise service_closed() if closed else not_recognised()
    SIGN_IN_ATTEMPTS.labels(name, "succeeded").inc()
    return issued


async def _authenticate(ctx: Identity, session: AsyncSession, attempt: _Attempt) -> Found:
    account = attempt.view.account
    if account is not None and account.password_hash is not None:
        return await _password_account(session, account, attempt.password)
    if account is not None and account.kind != AccountKind.CQC:
        return None  # a staff account whose holder has not chosen a password yet
    return await _cqc_account(ctx, session, attempt)


async def _password_account(session: AsyncSession, account: Account, password: str) -> Found:
    stored = account.password_hash
    if stored is None or not account.active:
        return None
    if not await asyncio.to_thread(verify_password, stored, password):
        return None
    if needs_rehash(stored):
        stronger = await asyncio.to_thread(hash_password, password)
        await repository.replace_hash(session, account.id, stored, stronger)
    locations = [
        loc.as_event() for loc in await repository.authorised_locations(session, account.id)
    ]
    return account, locations


async def _cqc_account(ctx: Identity, session: AsyncSession, attempt: _Attempt) -> Found:
    """Sign in with a location's register codes; authorises every location they match."""
    view = attempt.view
    matched = [loc for loc in view.locations if password_matches(loc, attempt.password)]
    if not matched:
        return None
    if view.closed:
        return await _unchanged_account(session, view.account, matched)
    account = view.account
    if account is None:
        created = await _first_sign_in(ctx, session, attempt, matched)
        if created is not None:
            return created
        # A parallel first sign-in made the account after this one read: join it.
        account = await repository.find_account(session, attempt.email)
        if account is None:
            return None
    if account.password_hash or not may_sign_in_with_register(account.kind, account.status):
        return None
    _, held = await repository.authorise_and_list(
        session, account.id, [loc.location_id for loc in matched]
    )
    locations = [loc.as_event() for loc in held]
    await announce_locations(ctx.service, session, account, locations, attempt.correlation_id)
    return account, locations


async def _first_sign_in(
    ctx: Identity, session: AsyncSession, attempt: _Attempt, matched: list[RegisterLocation]
) -> Found:
    """Make the account, authorise the locations matched and announce it all: one statement
    for the account, one for its two events (the registration carries the locations, ADR
    0082). None if the email has an account by now."""
    account_id = uuid.uuid4()
    # A new account holds just these (they are on the register, by location id): what is
    # announced is known before the account is made, and its digest made with it, so a
    # repeat sign-in with the same locations announces nothing more.
    locations = [loc.as_event() for loc in matched]
    announced = digest(account_id, locations)
    account = await repository.create_provider_account(
        session,
        attempt.email,
        [loc.location_id for loc in matched],
        announced,
        account_id=account_id,
    )
    if account is None:
        return None
    registered = AccountRegistered(
        account_id=account.id,
        kind=AccountKind.CQC,
        email=attempt.email,
        organisation_name=matched[0].provider_name,
        postcode=matched[0].postcode,
        locations=locations,
    )
    reported = AccountRegisteredForReporting(kind=AccountKind.CQC)
    for event in (registered, reported):
        await ctx.service.emit(session, event, attempt.correlation_id)
    return account, locations


async def _unchanged_account(
    session: AsyncSession, account: Account | None, matched: list[RegisterLocation]
) -> Found:
    """After the portal has closed a sign-in changes no account: it creates none, and adds no
    location; a holder may still sign in with a location already theirs to see their orders."""
    if account is None or account.password_hash:
        return None
    if not may_sign_in_with_register(account.kind, account.status):
        return None
    authorised = await repository.authorised_locations(session, account.id)
    if not {loc.location_id for loc in matched} <= {loc.location_id for loc in authorised}:
        return None
    return account, [loc.as_event() for loc in authorised]
