"""The allocator looks again when a placement held behind a hole may be decided, not only at
its idle interval (ADR 0011)."""

from __future__ import annotations

import asyncio
from typing import Any

from services.dispatch.handlers.allocator import Allocator
from services.dispatch.usecases.placements import Round


class HeldOnce:
    """Placements whose first round holds one behind a hole for ``hold`` seconds."""

    def __init__(self, hold: float) -> None:
        self.rounds: list[Round] = [Round(0, look_again_in=hold), Round(1)]
        self.calls: list[float] = []
        self.decided = asyncio.Event()

    async def decide_all(self, batch: int) -> Round:
        self.calls.append(asyncio.get_running_loop().time())
        done = self.rounds.pop(0) if self.rounds else Round(0)
        if done.decided:
            self.decided.set()
        return done


async def test_a_held_placement_is_looked_at_again_when_its_wait_is_up() -> None:
    placements = HeldOnce(hold=0.05)
    allocator = Allocator(placements, batch=10, idle_seconds=60)  # type: ignore[arg-type]
    allocator.start()
    try:
        await asyncio.wait_for(placements.decided.wait(), timeout=5)
    finally:
        await allocator.stop()
    first, second = placements.calls[:2]
    assert 0.04 <= second - first < 5


async def test_without_a_hold_it_waits_for_a_wake_or_its_idle_interval() -> None:
    placements: Any = HeldOnce(hold=0.05)
    placements.rounds = [Round(0), Round(1)]
    allocator = Allocator(placements, batch=10, idle_seconds=60)
    allocator.start()
    try:
        await asyncio.sleep(0.2)  # a held round would have looked again by now
        assert len(placements.calls) == 1
        allocator.kick()
        await asyncio.wait_for(placements.decided.wait(), timeout=5)
    finally:
        await allocator.stop()
    assert len(placements.calls) == 2
