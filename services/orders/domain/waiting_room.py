"""The waiting room's rules: which pages it guards, how many may come in, and what a waiting
visitor is told (ADR 0052). Pure functions: the queue itself lives in orders' database.

On launch day more people arrive than the platform can serve at once. The order journey
(signing in, creating an account, the order pages) is where the cost is, so only it is
guarded; the start page, the eligibility questions, the footer pages and the assets stay open
to everyone. Visitors come in first come, first served, up to ``limit`` at once and, when an
admission rate is set, no faster than that rate (so the sign-in burst follows measured
capacity); the rest wait on a page that shows their place and an estimated wait.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The pages of the order journey: a visitor needs a place to use them.
GUARDED_PREFIXES = ("/sign-in", "/create-account", "/order")
#: Reaching the order's confirmation ends the journey: the place goes to the next in line.
JOURNEY_END_PREFIX = "/order/confirmation/"
#: Signing out leaves the journey too (the session ends, so the place is given up).
SIGN_OUT_PATH = "/sign-out"
#: The admission rate is enforced over a sliding window this long (seconds).
RATE_WINDOW_SECONDS = 10
#: Before any admissions have been seen, assume a visit takes this long (minutes), so a
#: full room lets in ``limit / 5`` a minute.
ASSUMED_VISIT_MINUTES = 5.0
#: Fewer admissions than this in 5 minutes are too few to estimate a rate from.
MIN_OBSERVED = 10
#: How far back admissions are counted to estimate how fast the queue moves (minutes).
OBSERVED_MINUTES = 5.0
#: A waiting page refreshes itself no sooner and no later than this (seconds).
REFRESH_BOUNDS = (5, 300)


def is_guarded(path: str) -> bool:
    """True for the order journey's pages (not ``/orders``: a signed-in account's list)."""
    if path.startswith(JOURNEY_END_PREFIX):
        return False
    return any(path == p or path.startswith(p + "/") for p in GUARDED_PREFIXES)


def ends_journey(path: str, method: str) -> bool:
    """The confirmation page, or signing out: the visitor's place can go to someone else."""
    return path.startswith(JOURNEY_END_PREFIX) or (path == SIGN_OUT_PATH and method == "POST")


def free_places(limit: int, admitted: int, admit_per_second: float, admitted_in_window: int) -> int:
    """How many waiting visitors may come in now: room under the limit, and under the rate.

    ``admitted_in_window`` counts admissions in the last :data:`RATE_WINDOW_SECONDS`
    (including visitors who have left since), so replicas together never exceed the rate.
    """
    room = limit - admitted
    if admit_per_second > 0:
        room = min(room, math.ceil(admit_per_second * RATE_WINDOW_SECONDS) - admitted_in_window)
    return max(0, room)


def admissions_per_minute(
    observed: int, observed_minutes: float, limit: int, admit_per_second: float
) -> float:
    """How fast the queue moves: ``observed`` admissions over the ``observed_minutes`` they
    span (the last :data:`OBSERVED_MINUTES` at most) once there are enough to go on, else the
    configured rate (or a full room turning over once per assumed visit).

    Divided by the time the admissions actually span, not always by 5 minutes: in a launch's
    first minutes (when the queue is longest) that would have put the pace at a fraction of
    what it was and every wait at several times what it would be.
    """
    if observed >= MIN_OBSERVED:
        return observed / min(OBSERVED_MINUTES, max(observed_minutes, 1.0))
    expected = limit / ASSUMED_VISIT_MINUTES
    if admit_per_second > 0:
        expected = min(expected, admit_per_second * 60)
    return max(expected, 1.0)


def estimated_wait_minutes(position: int, per_minute: float) -> int:
    """Whole minutes until a visitor at ``position`` (1 = next) is let in, rounded up."""
    return max(1, math.ceil(position / max(per_minute, 0.1)))


def refresh_seconds(position: int, per_minute: float, waiting_idle_seconds: float) -> int:
    """How soon the waiting page looks again: a quarter of the expected wait, within
    :data:`REFRESH_BOUNDS`, and never more than half the time a waiting visitor may go
    unseen before losing their place. A visitor let in holds a place from then on but learns
    of it only at their next look, so near the front the page looks every few seconds (few
    visitors are that near); far back, every few minutes. The queue itself is most of the
    site's traffic on launch day: with 25,000 waiting and 8 let in a second, looking at
    least once a minute (as the page first did) came to about 500 looks a second, each a
    write, five times the journey's own requests; with looks up to 5 minutes apart, about
    230 (tests/unit/orders/test_waiting_room_rules.py). Beyond a minute it is whole minutes,
    so the page can say how often it updates in words."""
    low, high = REFRESH_BOUNDS
    high = min(high, int(waiting_idle_seconds // 2))  # the settings keep this above ``low``
    expected_seconds = position / max(per_minute, 0.1) * 60
    every = int(min(high, max(low, expected_seconds / 4)))
    return every if every < 60 else every - every % 60


def refresh_text(seconds: int) -> str:
    """How often the page updates, in words as GOV.UK writes times ("every 2 minutes")."""
    if seconds < 60:
        return f"every {seconds} seconds"
    minutes = seconds // 60
    return "every minute" if minutes == 1 else f"every {minutes} minutes"


def wait_text(minutes: int) -> str:
    """The estimate in words, as GOV.UK writes times."""
    if minutes <= 1:
        return "about 1 minute"
    if minutes < 60:
        return f"about {minutes} minutes"
    hours = round(minutes / 60, 1)
    whole = int(hours) if hours == int(hours) else hours
    return f"about {whole} hour{'' if whole == 1 else 's'}"


@dataclass(frozen=True)
class RoomState:
    """What one replica last measured: the queue, the journey, and how fast the queue moves."""

    waiting: int = 0
    admitted: int = 0
    per_minute: float = 1.0

    def full(self, limit: int) -> bool:
        """Someone is waiting, or the journey is at its limit: newcomers must queue."""
        return limit > 0 and (self.waiting > 0 or self.admitted >= limit)

    def retry_after_seconds(self, position: int | None = None) -> int:
        """For the API: when the caller at ``position`` (by default a newcomer at the back)
        might get in, 5 s to 5 minutes (so a waiting caller checks in well within the
        waiting idle time)."""
        minutes = (position or self.waiting + 1) / max(self.per_minute, 0.1)
        return int(min(300, max(5, math.ceil(minutes * 60))))
