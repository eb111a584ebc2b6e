"""The review queue as Prometheus gauges: how many referred orders wait, and the oldest's age.

Operations alert when a referral has waited more than a day. Each replica refreshes the gauges
from the database every ``interval`` seconds while the app runs (every replica reports the same
figures, so dashboards and alerts take the ``max``). Only counts and an age leave the process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import and_, func, select

from services.verification.store.tables import audit_trail, orders
from shared.logging import get_logger
from shared.metrics import REVIEW_QUEUE_OLDEST_AGE, REVIEW_QUEUE_ORDERS
from shared.runtime import Service

log = get_logger(__name__)


async def refresh(service: Service) -> tuple[int, float]:
    """Read the queue's length and the oldest referral's age; set and return them."""
    referred_at = (
        select(func.max(audit_trail.c.at))
        .where(
            and_(audit_trail.c.order_id == orders.c.order_id, audit_trail.c.action == "referred")
        )
        .scalar_subquery()
    )
    async with service.db.transaction() as session:
        count, oldest = (
            await session.execute(
                select(
                    func.count(), func.min(func.coalesce(referred_at, orders.c.placed_at))
                ).where(orders.c.state == "referred")
            )
        ).one()
    age = max((datetime.now(UTC) - oldest).total_seconds(), 0.0) if oldest else 0.0
    REVIEW_QUEUE_ORDERS.labels(service.name).set(count)
    REVIEW_QUEUE_OLDEST_AGE.labels(service.name).set(age)
    return int(count), age


async def _poll(service: Service, interval: float) -> None:
    while True:
        try:
            await refresh(service)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: keep the last figures, try again
            log.warning("review queue gauge not refreshed", error=type(exc).__name__)
        await asyncio.sleep(interval)


def install(app: FastAPI, service: Service, interval: float = 15.0) -> None:
    """Refresh the gauges in the background for as long as the app's lifespan runs."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with inner(application) as state:
            task = asyncio.create_task(_poll(service, interval), name="review-queue-gauge")
            try:
                yield state
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app.router.lifespan_context = lifespan
