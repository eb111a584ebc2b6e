"""What identity's use cases share: settings turned into policies, the keys, the clock and
the email outbox.

One per process, kept on the app so tests can reach it: they move the clock (a lockout
expiring, a link going stale) instead of sleeping, and narrow a limit to reach it quickly.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain import devices
from services.identity.domain import throttle as rules
from services.identity.domain.secrets import derive_key, keyed_hash
from services.identity.domain.sessions import SessionPolicy
from services.identity.domain.tokens import TokenMinter, utc_now
from services.identity.settings import IdentitySettings
from services.identity.usecases.throttling import ACCOUNT, SOURCE
from shared.email import EmailMessage, queue_email
from shared.runtime import Service


@dataclass
class Identity:
    """Identity's per-process state, reached by every use case."""

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

    def source_key(self, host: str) -> bytes:
        """The counter key of a client address (the caller's, as the proxies tell it)."""
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

    def device_token(self, subject: bytes) -> str:
        """A new device token for the account (handed to the browser that just signed in)."""
        return devices.new_token(self._hash_key, subject)

    def known_device(self, subject: bytes, tokens: list[str]) -> tuple[str, bytes] | None:
        """The presented device token valid for this account, and its counter key."""
        return devices.device_of(self._hash_key, subject, tokens)
