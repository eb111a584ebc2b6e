"""What identity's routes share: settings turned into policies, the keys, the clock, the email
outbox, and the brute-force guard.

The clock is injected so tests move time (a lockout expiring, a link going stale) instead of
sleeping.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain import devices
from services.identity.domain import throttle as rules
from services.identity.domain.secrets import derive_key, keyed_hash
from services.identity.domain.sessions import SessionPolicy
from services.identity.domain.tokens import TokenMinter, utc_now
from services.identity.settings import IdentitySettings
from services.identity.store import throttle as counters
from shared.email import EmailMessage, queue_email
from shared.http.problems import Problem
from shared.runtime import Service

ACCOUNT = "account"
SOURCE = "source"
RESET = "reset"
#: Registration emails per address (issue 17, item 7).
REGISTRATION = "registration"
#: Sign-ins from a browser holding a valid device token for the account (ADR 0064).
DEVICE = "device"


@dataclass(frozen=True)
class Admission:
    decision: rules.Decision
    counted: rules.Counter = field(default_factory=rules.Counter)
    #: The counter key of the known device this attempt came from, if any (ADR 0064).
    device: bytes | None = None


@dataclass
class Identity:
    """Identity's per-process state; one per app, reached by every route."""

    service: Service
    settings: IdentitySettings
    email_outbox: Table
    clock: Callable[[], datetime] = utc_now
    #: Called after a transaction that queued email commits (the relay's kick).
    email_queued: Callable[[], None] = lambda: None

    @functools.cached_property
    def lockout(self) -> rules.Lockout:
        s = self.settings
        return rules.Lockout(
            free_failures=s.lockout_free_failures,
            first_lock=timedelta(seconds=s.lockout_first_seconds),
            max_lock=timedelta(seconds=s.lockout_max_seconds),
        )

    @functools.cached_property
    def source_limit(self) -> rules.Window:
        s = self.settings
        return rules.Window(s.source_failure_limit, timedelta(seconds=s.source_window_seconds))

    @functools.cached_property
    def reset_limit(self) -> rules.Window:
        return rules.Window(self.settings.reset_requests_per_hour, timedelta(hours=1))

    @functools.cached_property
    def registration_limit(self) -> rules.Window:
        return rules.Window(self.settings.registration_emails_per_hour, timedelta(hours=1))

    @functools.cached_property
    def sessions(self) -> SessionPolicy:
        s = self.settings
        return SessionPolicy(
            access_ttl=timedelta(seconds=s.token_ttl_seconds),
            idle_timeout=timedelta(minutes=s.session_idle_minutes),
            absolute_timeout=timedelta(hours=s.session_absolute_hours),
        )

    @functools.cached_property
    def minter(self) -> TokenMinter:
        if not self.settings.token_private_key:
            raise RuntimeError("CARE_IDENTITY_TOKEN_PRIVATE_KEY is not set")
        return TokenMinter(
            self.settings.token_private_key,
            self.settings.token_issuer,
            timedelta(seconds=self.settings.token_ttl_seconds),
        )

    @functools.cached_property
    def _hash_key(self) -> bytes:
        # Derived from the signing key identity already holds: one secret fewer to manage,
        # and every replica derives the same key.
        return derive_key(self.settings.token_private_key, "identity.keyed-hashes")

    def subject_key(self, email: str) -> bytes:
        return keyed_hash(self._hash_key, ACCOUNT, email)

    def source_key(self, request: Request) -> bytes:
        host = request.client.host if request.client else "unknown"
        return keyed_hash(self._hash_key, SOURCE, host)

    def link(self, path: str, *, role: str = "", **query: str) -> str:
        """A link on the pages ``role`` uses (the public site unless a staff role)."""
        base = self.settings.site_for(role)
        return f"{base}{path}?{urlencode(query)}" if query else f"{base}{path}"

    async def queue(self, session: AsyncSession, message: EmailMessage) -> None:
        await queue_email(session, self.email_outbox, message)

    async def uniform_delay(self, started: float) -> None:
        """Wait until ``uniform_response_seconds`` after ``started`` (time.monotonic())."""
        remaining = self.settings.uniform_response_seconds - (time.monotonic() - started)
        if remaining > 0:
            await asyncio.sleep(remaining)

    # --- brute force -------------------------------------------------------------------

    def device_token(self, subject: bytes) -> str:
        """A new device token for the account (handed to the browser that just signed in)."""
        return devices.new_token(self._hash_key, subject)

    def known_device(self, subject: bytes, tokens: list[str]) -> tuple[str, bytes] | None:
        """The presented device token valid for this account, and its counter key."""
        return devices.device_of(self._hash_key, subject, tokens)

    async def admit_sign_in(
        self,
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
        """
        if device is not None:
            counter = await counters.lock_counter(session, DEVICE, device)
            counted, decision = self.lockout.attempt(counter, now)
            if decision.allowed:
                await counters.save_counter(session, DEVICE, device, counted)
            return Admission(decision, counted, device)
        source_count = await counters.read_counter(session, SOURCE, source)
        decision = self.source_limit.check(source_count, now)
        if not decision.allowed:
            return Admission(decision)
        counter = await counters.lock_counter(session, ACCOUNT, subject)
        counted, decision = self.lockout.attempt(counter, now)
        if decision.allowed:
            await counters.save_counter(session, ACCOUNT, subject, counted)
        return Admission(decision, counted)

    async def sign_in_failed(self, session: AsyncSession, source: bytes, now: datetime) -> None:
        counter = await counters.lock_counter(session, SOURCE, source)
        await counters.save_counter(session, SOURCE, source, self.source_limit.record(counter, now))

    async def sign_in_succeeded(
        self, session: AsyncSession, subject: bytes, device: bytes | None = None
    ) -> None:
        """Clear the counter the attempt was made on: a known device's success clears only
        its own, so the owner signing in gives an attacker elsewhere no fresh guesses."""
        if device is not None:
            await counters.clear_counter(session, DEVICE, device)
        else:
            await counters.clear_counter(session, ACCOUNT, subject)

    async def lift_lock(self, session: AsyncSession, subject: bytes) -> None:
        """A completed password reset lifts the account's lock (ADR 0064)."""
        await counters.clear_counter(session, ACCOUNT, subject)

    async def admit_reset(self, session: AsyncSession, subject: bytes, now: datetime) -> bool:
        """At most a few reset emails an hour per address, so the form cannot flood an inbox."""
        counter = await counters.lock_counter(session, RESET, subject)
        if not self.reset_limit.check(counter, now).allowed:
            return False
        await counters.save_counter(session, RESET, subject, self.reset_limit.record(counter, now))
        return True

    async def admit_registration_email(
        self, session: AsyncSession, subject: bytes, now: datetime
    ) -> bool:
        """At most a few registration emails an hour per address, new or known alike (the
        answer does not change, so the limit says nothing about whether an account exists)."""
        counter = await counters.lock_counter(session, REGISTRATION, subject)
        if not self.registration_limit.check(counter, now).allowed:
            return False
        record = self.registration_limit.record(counter, now)
        await counters.save_counter(session, REGISTRATION, subject, record)
        return True


def identity(request: Request) -> Identity:
    found: Identity = request.app.state.identity
    return found


def too_many_attempts(retry_after: int) -> Problem:
    minutes = max(1, (retry_after + 59) // 60)
    return Problem(
        429,
        "too-many-attempts",
        "Too many attempts",
        f"There have been too many attempts to sign in. Wait {minutes} "
        f"minute{'s' if minutes != 1 else ''} and try again, or reset your password.",
        headers={"Retry-After": str(retry_after)},
    )
