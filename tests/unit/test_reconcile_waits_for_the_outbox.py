"""The reconciliation counts the courier's handoffs only once dispatch's outbox is empty
(tests/support/reconcile.py): a handoff still in the outbox of a dispatch restarted just
before the end is late, not lost, and one that never leaves it is reported."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import reconcile


def _outbox(*unsent: int) -> Any:
    """A dispatch database whose unsent count reads ``unsent`` in turn, then the last."""
    answers = list(unsent)

    async def rows(_url: str, sql: str) -> list[tuple[int]]:
        assert "published_at IS NULL" in sql
        return [(answers.pop(0) if len(answers) > 1 else answers[0],)]

    return rows


async def test_a_handoff_the_relay_sends_late_is_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reconcile, "_rows", _outbox(1, 1, 0))
    assert await reconcile.dispatch_outbox_sent("db", within=5)


async def test_a_handoff_that_never_leaves_the_outbox_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reconcile, "_rows", _outbox(1))
    assert not await reconcile.dispatch_outbox_sent("db", within=0.2)
