"""Brute-force limits, as pure rules over a counter's state and the time (no I/O, no clock).

Two shapes (OWASP ASVS 2.2.1, Cyber Essentials, NIST SP 800-63B 5.2.2):

- :class:`Lockout`, per account: every attempt is counted *before* the password is checked, so
  parallel guesses each count and none slips through while another is being checked. After a
  few free failures each further one locks the account for a growing time, doubling up to a
  cap and never for ever; a success clears the count. Unknown emails are counted the same way,
  so a lock says nothing about whether an account exists.
- :class:`Window`, per source address and for password-reset requests: at most ``limit``
  events in a fixed window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Counter:
    """A throttle row: how many events, since when, the last, and any lock in force."""

    count: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    #: Seconds until another attempt may be made (0 when allowed).
    retry_after: int = 0


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, int((moment - now).total_seconds() + 0.999))


@dataclass(frozen=True)
class Lockout:
    """Per-account lockout with a growing delay.

    With the defaults an attacker gets 5 guesses, then one a minute, two minutes, four ... and
    at most one every 15 minutes: under 10 in any 5 minutes and about 8 an hour.
    """

    free_failures: int = 5
    first_lock: timedelta = timedelta(minutes=1)
    max_lock: timedelta = timedelta(minutes=15)
    #: A quiet day forgets earlier failures, so nobody is penalised for last month's typos.
    forget_after: timedelta = timedelta(hours=24)

    def lock_for(self, failures: int) -> timedelta:
        if failures < self.free_failures:
            return timedelta(0)
        doublings = min(failures - self.free_failures, 16)
        return min(self.first_lock * (1 << doublings), self.max_lock)

    def attempt(self, state: Counter, now: datetime) -> tuple[Counter, Decision]:
        """Admit or refuse one attempt; an admitted one is counted as a failure until the
        caller reports success with :meth:`succeeded`."""
        if state.locked_until is not None and now < state.locked_until:
            return state, Decision(False, _seconds_until(state.locked_until, now))
        stale = state.last_at is None or now - state.last_at > self.forget_after
        failures = 1 if stale else state.count + 1
        lock = self.lock_for(failures)
        counted = Counter(
            count=failures,
            first_at=now if stale else state.first_at,
            last_at=now,
            locked_until=now + lock if lock else None,
        )
        return counted, Decision(True)

    @staticmethod
    def succeeded() -> Counter:
        return Counter()

    @staticmethod
    def locks(state: Counter) -> bool:
        """True if this state (after a failed attempt) locks the account."""
        return state.locked_until is not None


@dataclass(frozen=True)
class Window:
    """At most ``limit`` events per ``window``; the window starts at its first event."""

    limit: int
    window: timedelta

    def check(self, state: Counter, now: datetime) -> Decision:
        if state.first_at is None or now - state.first_at >= self.window:
            return Decision(True)
        if state.count < self.limit:
            return Decision(True)
        return Decision(False, _seconds_until(state.first_at + self.window, now))

    def record(self, state: Counter, now: datetime) -> Counter:
        if state.first_at is None or now - state.first_at >= self.window:
            return Counter(count=1, first_at=now, last_at=now)
        return Counter(count=state.count + 1, first_at=state.first_at, last_at=now)
