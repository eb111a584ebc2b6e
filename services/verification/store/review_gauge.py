"""The review queue as Prometheus gauges: how many referred orders wait, and the oldest's age.

Operations alert when a referral has waited more than a day. Each replica refreshes the gauges
from the database every ``every`` seconds while the service runs (every replica reports the same
figures, so dashboards and alerts take the ``max``). Only counts and an age leave the process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, select

from services.verification.store.tables import audit_trail, orders
from shared.metrics import REVIEW_QUEUE_OLDEST_AGE, REVIEW_QUEUE_ORDERS
from shared.periodic import Periodic
from shared.runtime import Service


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


def refresher(service: Service, every: timedelta = timedelta(seconds=15)) -> Periodic:
    """The chore that keeps the gauges fresh, for ``service.attach`` (a failed round is logged
    by :class:`Periodic`, and the gauges keep their last figures until the next)."""
    return Periodic.keeping_fresh("review-queue-gauge", every, lambda: refresh(service))
