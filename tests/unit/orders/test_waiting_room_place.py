"""A waiting visitor's place is counted from one keeper round's ranking, even when the next
round ends while the count of newer tickets runs (services/orders/usecases/waiting_room.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.orders.store import waiting_room as queue
from services.orders.usecases.waiting_room import WaitingRoom


class _Database:
    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield None


async def test_a_round_that_ends_while_a_newcomer_is_counted_does_not_push_them_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    room = WaitingRoom.__new__(WaitingRoom)
    room.db = _Database()  # type: ignore[assignment]
    room._queue, room._newest = [2], 2  # the last round: ticket 2 waiting
    newcomer = queue.Ticket(3, queue.WAITING)

    async def waiting_between(_tx: Any, after: int, before: int) -> int:
        # The keeper's next round ends meanwhile and ranks the newcomer as well.
        room._queue, room._newest = [2, 3], 3
        return 0  # nobody drawn between tickets 2 and 3

    monkeypatch.setattr(queue, "waiting_between", waiting_between)
    assert await room.position(newcomer) == 2
