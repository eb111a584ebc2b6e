"""Erasing order ids reporting no longer needs, on a timer while the service runs.

An order's id links the events of one order while it is in progress. Once the order has
settled and the retention period has passed, the id is erased: what remains (reporting's own
number for the order, its anonymised state and log facts) cannot be tied back to an order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from services.reporting.store import repository
from shared.logging import get_logger
from shared.store.db import Database

log = get_logger(__name__)


async def forget_order_ids(db: Database, retention_days: float) -> int:
    """Erase the ids of orders settled more than ``retention_days`` ago; returns how many."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    async with db.transaction() as session:
        return await repository.forget_settled_order_ids(session, cutoff)


async def _run(db: Database, retention_days: float, interval: float) -> None:
    while True:
        try:
            erased = await forget_order_ids(db, retention_days)
            if erased:
                log.info("order ids erased", orders=erased)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: try again next time
            log.warning("order id erasure failed", error=type(exc).__name__)
        await asyncio.sleep(interval)


def install(app: FastAPI, db: Database, retention_days: float, interval: float) -> None:
    """Run the erasure in the background for as long as the app's lifespan runs."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with inner(application) as state:
            task = asyncio.create_task(_run(db, retention_days, interval), name="reporting-erasure")
            try:
                yield state
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app.router.lifespan_context = lifespan
