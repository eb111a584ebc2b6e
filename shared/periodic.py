"""A chore run every so often alongside a service (a :class:`shared.runtime.Component`).

A failing round is logged and the next one tries again: the chores are idempotent deletes
(expired links, old inbox rows), so a missed round costs nothing but a little delay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

from shared.logging import get_logger

log = get_logger(__name__)


class Periodic:
    """Runs ``job`` every ``every`` from start until stop; ``job`` returns rows it removed."""

    def __init__(self, name: str, every: timedelta, job: Callable[[], Awaitable[int]]) -> None:
        self.name, self._every, self._job = name, every, job
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def keeping_fresh(
        cls, name: str, every: timedelta, refresh: Callable[[], Awaitable[object]]
    ) -> Periodic:
        """A chore that removes nothing but keeps something current (a gauge's figures)."""

        async def job() -> int:
            await refresh()
            return 0

        return cls(name, every, job)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                removed = await self._job()
                if removed:
                    log.info("chore removed rows", chore=self.name, rows=removed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again next round
                log.warning(
                    "chore failed; will try again", chore=self.name, error=type(exc).__name__
                )
            await asyncio.sleep(self._every.total_seconds())
