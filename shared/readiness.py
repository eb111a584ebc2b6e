"""Saying in the service's own log why /readyz fails, without a line per probe.

A 503 from /readyz tells the orchestrator to stop sending traffic, but not a person why. The
failing checks (which dependency, and the exception's type: never its message, which can
carry a connection string or personal data) are logged when a check starts or stops failing, then
at most once a minute while they last, and once more when the service is ready again. A probe
every few seconds therefore costs a handful of lines, not thousands.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from shared.logging import get_logger

log = get_logger(__name__)

#: While the same checks keep failing, repeat the line at most this often.
REPEAT_SECONDS = 60.0


class NotReadyLog:
    """Logs the failing readiness checks of one service, rate-limited."""

    def __init__(
        self, repeat_seconds: float = REPEAT_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.repeat_seconds = repeat_seconds
        self._clock = clock
        self._failing: dict[str, str] = {}
        self._logged_at = 0.0
        self._unlogged = 0

    def report(self, checks: Mapping[str, str]) -> None:
        failing = {check: state for check, state in checks.items() if state != "ok"}
        now = self._clock()
        if not failing:
            if self._failing:
                log.info("ready again", was_failing=sorted(self._failing))
                self._failing = {}
            return
        # Which checks fail, not how: one outage of the database surfaces as several exception
        # types from one probe to the next (InterfaceError, then DBAPIError), one line is enough.
        changed = failing.keys() != self._failing.keys()
        if changed or now - self._logged_at >= self.repeat_seconds:
            log.warning(
                "not ready",
                failing_checks=failing,
                probes_since_last_line=self._unlogged,
            )
            self._failing, self._logged_at, self._unlogged = failing, now, 0
        else:
            self._unlogged += 1
