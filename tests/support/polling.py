"""Waiting for something another process does: a poll with a deadline, never a bare sleep.
Its own module so that the reconciliation (which the benchmarks import too) can use it
without the test platform's imports."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T]], timeout: float = 20.0, every: float = 0.05
) -> T:
    """Poll ``check`` until it returns something truthy, or fail with its last answer."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s; last value {last!r}")
