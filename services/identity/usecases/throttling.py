"""The brute-force guard: counters per account, per client address, per known device, and
per address for reset and registration emails.

Every attempt is counted in the same transaction as its outcome, under the counter's row
lock, so parallel attempts queue and each one counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain import throttle as rules
from services.identity.store import throttle as counters
from shared.store.db import before_commit

if TYPE_CHECKING:
    from services.identity.usecases.context import Identity

ACCOUNT = "account"
SOURCE = "source"
RESET = "reset"
#: Registration emails per address (issue 17, item 7).
REGISTRATION = "registration"
#: Sign-ins from a browser holding a valid device token for the account (ADR 0064).
DEVICE = "device"
#: Every counter scope, for the chore that forgets quiet counters.
SCOPES = (ACCOUNT, SOURCE, RESET, REGISTRATION, DEVICE)


#: What an admitted attempt's commit writes to its counter (:class:`_Count`).
_COUNT, _CLEAR, _WRITTEN = "count", "clear", "written"


class _Count:
    """An admitted attempt's count, written to its counter (locked since admission) just
    before the transaction commits: as counted, or cleared if the attempt succeeded.

    One write per attempt instead of a save and then, on success, a delete; and written by
    default, so a use case that ends any other way (the portal closed, a refusal of its own)
    leaves the attempt counted without having to say so. The row lock taken at admission
    holds parallel attempts on the counter until the commit, as before, and a transaction
    that rolls back counts nothing, as before.
    """

    def __init__(self, scope: str, key: bytes, counted: rules.Counter) -> None:
        self.scope, self.key, self.counted = scope, key, counted
        #: What the commit writes: the count (the default), a clear (the attempt succeeded),
        #: or nothing (cleared already, by the caller's own statement).
        self.outcome = _COUNT

    async def __call__(self, session: AsyncSession) -> None:
        if self.outcome == _CLEAR:
            await counters.clear_counter(session, self.scope, self.key)
        elif self.outcome == _COUNT:
            await counters.save_counter(session, self.scope, self.key, self.counted)


@dataclass(frozen=True)
class Admission:
    decision: rules.Decision
    counted: rules.Counter = field(default_factory=rules.Counter)
    #: The counter key of the known device this attempt came from, if any (ADR 0064).
    device: bytes | None = None
    #: What the transaction writes to the counter as it commits (None: nothing, refused).
    count: _Count | None = field(default=None, repr=False, compare=False)


async def admit_sign_in(
    ctx: Identity,
    session: AsyncSession,
    subject: bytes,
    source: bytes,
    now: datetime,
    device: bytes | None = None,
) -> Admission:
    """Count this attempt against the account (locking its counter for the transaction)
    unless the account is locked or the source is over its limit.

    An attempt from a known device (``device``, the counter key of a valid device token
    for this account) is counted on that device's own lockout instead: guesses from
    elsewhere neither lock it out nor are helped by it (OWASP's device cookies, ADR 0064).

    The count is written as the transaction commits (``session`` must be one of
    ``Database.transaction``'s): :func:`sign_in_succeeded` makes that write clear the
    counter instead.
    """
    if device is not None:
        counter = await counters.lock_counter(session, DEVICE, device)
        return _admitted(ctx, session, DEVICE, device, counter, now, device)
    # The source's count is read (not locked) in the statement that locks the account's.
    locked, source_count = await counters.lock_counter_reading(
        session, ACCOUNT, subject, SOURCE, source
    )
    decision = ctx.source_limit.check(source_count, now)
    if not decision.allowed:
        if locked.created:  # nothing is counted on it: leave no empty counter behind
            await counters.clear_counter(session, ACCOUNT, subject)
        return Admission(decision)
    return _admitted(ctx, session, ACCOUNT, subject, locked.counter, now)


def _admitted(
    ctx: Identity,
    session: AsyncSession,
    scope: str,
    key: bytes,
    counter: rules.Counter,
    now: datetime,
    device: bytes | None = None,
) -> Admission:
    counted, decision = ctx.lockout.attempt(counter, now)
    if not decision.allowed:
        return Admission(decision, counted, device)
    count = _Count(scope, key, counted)
    before_commit(session, f"throttle.{scope}.{key.hex()}", count)
    return Admission(decision, counted, device, count)


async def sign_in_failed(
    ctx: Identity, session: AsyncSession, source: bytes, now: datetime
) -> None:
    """Count a failure against the client's address (the attempt's own counter already
    holds it)."""
    counter = await counters.lock_counter(session, SOURCE, source)
    await counters.save_counter(session, SOURCE, source, ctx.source_limit.record(counter, now))


def sign_in_succeeded(admission: Admission) -> None:
    """Clear the counter the attempt was made on: a known device's success clears only
    its own, so the owner signing in gives an attacker elsewhere no fresh guesses."""
    if admission.count is not None:
        admission.count.outcome = _CLEAR


def cleared_with_sign_in(admission: Admission) -> tuple[str, bytes] | None:
    """:func:`sign_in_succeeded` for a sign-in that clears the counter in the statement that
    opens its session (store/sessions.py) instead of one of its own at commit: the counter's
    scope and key, or None if the attempt counted on none."""
    count = admission.count
    if count is None:
        return None
    count.outcome = _WRITTEN
    return count.scope, count.key


async def lift_lock(session: AsyncSession, subject: bytes) -> None:
    """A completed password reset lifts the account's lock (ADR 0064)."""
    await counters.clear_counter(session, ACCOUNT, subject)


async def admit_reset(ctx: Identity, session: AsyncSession, subject: bytes, now: datetime) -> bool:
    """At most a few reset emails an hour per address, so the form cannot flood an inbox."""
    return await _admit_email(session, RESET, ctx.reset_limit, subject, now)


async def admit_registration_email(
    ctx: Identity, session: AsyncSession, subject: bytes, now: datetime
) -> bool:
    """At most a few registration emails an hour per address, new or known alike (the
    answer does not change, so the limit says nothing about whether an account exists)."""
    return await _admit_email(session, REGISTRATION, ctx.registration_limit, subject, now)


async def _admit_email(
    session: AsyncSession, scope: str, limit: rules.Window, subject: bytes, now: datetime
) -> bool:
    counter = await counters.lock_counter(session, scope, subject)
    if not limit.check(counter, now).allowed:
        return False
    await counters.save_counter(session, scope, subject, limit.record(counter, now))
    return True
