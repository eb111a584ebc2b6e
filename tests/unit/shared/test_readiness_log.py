"""The not-ready log: a line when checks start failing or change, at most one a minute while
they keep failing, and one when the service is ready again."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from shared.readiness import NotReadyLog

DOWN = {"database": "unreachable: ConnectionRefusedError", "broker": "ok"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict)]


def test_one_line_per_minute_while_the_same_check_fails(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    log = NotReadyLog(repeat_seconds=60, clock=clock)
    for _ in range(20):  # a probe every 2 s for 40 s
        log.report(DOWN)
        clock.now += 2
    events = _events(caplog)
    assert [e["event"] for e in events] == ["not ready"]
    assert events[0]["failing_checks"] == {"database": "unreachable: ConnectionRefusedError"}

    clock.now += 30  # past a minute since the line
    log.report(DOWN)
    events = _events(caplog)
    assert [e["event"] for e in events] == ["not ready", "not ready"]
    assert events[1]["probes_since_last_line"] == 19


def test_a_new_reason_is_logged_at_once_and_so_is_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    log = NotReadyLog(clock=clock)
    log.report({"database": "ok", "broker": "ok", "consumers": "ok"})
    log.report(DOWN)
    log.report({"database": "ok", "broker": "unreachable: TimeoutError"})
    log.report({"database": "ok", "broker": "ok", "consumers": "ok"})
    log.report({"database": "ok", "broker": "ok", "consumers": "ok"})
    events = _events(caplog)
    assert [e["event"] for e in events] == ["not ready", "not ready", "ready again"]
    assert events[1]["failing_checks"] == {"broker": "unreachable: TimeoutError"}
    assert events[2]["was_failing"] == ["broker"]
