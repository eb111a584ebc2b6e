"""A service whose /readyz fails says why in its own log, once, not once per probe."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.support import infra
from tests.support.platform import Platform

pytestmark = pytest.mark.integration


def _not_ready_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        r.msg
        for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == "not ready"
    ]


async def test_losing_the_database_is_logged_with_its_reason_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    async with Platform() as platform:
        await platform.start("reporting")
        async with platform.client("reporting") as http:
            assert (await http.get("/readyz")).status_code == 200
            assert _not_ready_lines(caplog) == []

            # The database goes away under the running service (its connections are cut).
            await infra.drop_databases([f"care_reporting_{platform.suffix}"])
            answers = [await http.get("/readyz") for _ in range(5)]

    assert {a.status_code for a in answers} == {503}
    reason = answers[0].json()["checks"]["database"]
    assert reason.startswith("unreachable: ")
    lines = _not_ready_lines(caplog)
    assert len(lines) == 1, lines  # five probes, one line: the reason did not change
    assert lines[0]["failing_checks"] == {"database": reason}
